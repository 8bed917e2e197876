export {
  CONFIG_FILE,
  detectProfile,
  NightshiftYml,
  PYTHON_MANIFESTS,
  RepoProfile,
  SCRATCH_DIR,
} from './detect.ts';
export { GO_TEST_FILES, isTestFile, NODE_TEST_FILES, notATestFile, PYTHON_TEST_FILES, runnerTestFiles } from './test-files.ts';
export type { RunnerTestFiles } from './test-files.ts';
export { DEADLINE_LABEL, DockerSandbox, OWNER_LABEL, RUN_ID_LABEL, SANDBOX_LABEL, SESSION_LABEL } from './docker.ts';
export { DockerSession, SESSION_INIT } from './docker-session.ts';
export { SessionQueue, sessionOverRuns, StageSandbox } from './session.ts';
export type { DockerSandboxOptions } from './docker.ts';
export { BLOCKED_RANGES, ipv4Rules, ipv6Rules, localAddressesOf, resolversOf } from './egress.ts';
export type { EgressPolicy } from './egress.ts';
export { ProfileError, SandboxError } from './errors.ts';
export type { ProfileErrorCode } from './errors.ts';
export { GATE_LABEL, openGate } from './gate.ts';
export type { Gate, GateOptions } from './gate.ts';
export type { SandboxErrorCode } from './errors.ts';
export {
  DEFAULT_NODE_IMAGE,
  GATE_IMAGE,
  GO_IMAGE,
  GO_IMAGE_TAG,
  GO_IMAGE_VERSION,
  hasRecipe,
  IMAGE_RECIPES,
  imageMissingMessage,
  PYTHON_IMAGE,
  PYTHON_IMAGE_TAG,
  PYTHON_IMAGE_VERSION,
  SANDBOX_UID,
} from './images.ts';
export {
  argvOf,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_TIMEOUT_MS,
  parseRunSpec,
  parseSessionRunSpec,
  parseSessionSpec,
  RunLimits,
  RunSpec,
  runFailure,
  SessionRunSpec,
  SessionSpec,
  WORKSPACE_DIR,
} from './sandbox.ts';
export type { Availability, RunOptions, RunResult, RunSpecInput, Sandbox, SandboxSession, SessionRunSpecInput, SessionSpecInput } from './sandbox.ts';
export { prepareResults } from './results/collect.ts';
export type { ResultsRun } from './results/collect.ts';
export { parseJestJson, parseJunit, parseMochaJson, parseTap } from './results/parse.ts';
export { goModulePath, goTestOutput, parseGoTestJson } from './results/go.ts';
export type { GoParsed } from './results/go.ts';
export {
  indexOf,
  keyHash,
  readIndex,
  RunError,
  Runner,
  TestCase,
  testKey,
  testLabel,
  TestStatus,
  Totals,
  totalsOf,
} from '../shared/test-report.ts';
export type { TestReport } from '../shared/test-report.ts';
