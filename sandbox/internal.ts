/** For sibling implementations and tests (the fake sandbox), not for agents: use index.ts. */
export { OutputCapture } from './output.ts';
export { resolveWorkspace } from './workspace.ts';
export type { ResolvedWorkspace } from './workspace.ts';
export { parseYaml, parseYamlMapping } from './yaml.ts';
export type { YamlIssue, YamlResult } from './yaml.ts';
