/** For sibling implementations and tests (the fake sandbox), not for agents: use index.ts. */
export { OutputCapture } from './output.ts';
export { resolveWorkspace } from './workspace.ts';
export type { ResolvedWorkspace } from './workspace.ts';
export { parseFlatYaml } from './yaml.ts';
export type { FlatYamlIssue, FlatYamlResult, FlatYamlValue } from './yaml.ts';
