import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestAuthor } from '../../agents/test-author/handler.ts';
import { DEFAULT_NODE_IMAGE, DockerSandbox, type Sandbox } from '../../sandbox/index.ts';
import type { MockScriptInput } from '../../shared/llm/index.ts';
import { ProcessSandbox } from '../fakes/sandbox.ts';
import { advanced, demoAnswer, run, workItem, world, type Args, type World } from '../helpers/agents.ts';
import { testLabels } from '../helpers/leftovers.ts';
import type { Spec, WritingTestsOutput } from '../../bus/index.ts';

/*
 * What the guard suites of the chain agents share (issue 3, "Tests show each guard working"; issue 16:
 * one suite per role, run on the fake sandbox and on Docker). Each handler is called in-process with
 * real git, the sandbox under test and mock-llm over HTTP. Every test has its own origin repository
 * (the demo), workspaces directory and mock-llm server; at its end every scripted response must have
 * been used and no call may have failed.
 */

/** The sandbox a guard suite runs on, as test/contracts/sandbox.contract.ts gets its implementation. */
export interface GuardSandbox {
  /** Shown in the suite names. */
  name: string;
  /** A new sandbox for one world. */
  create(): Sandbox;
  /** HOME in a run: Docker's is /tmp, the fake's a fresh directory of each run's own. */
  home: RegExp;
}

/** The real Docker sandbox, its containers labelled as this test file's. */
export const DOCKER: GuardSandbox = { name: 'Docker sandbox', create: () => new DockerSandbox({ labels: testLabels() }), home: /^\/tmp$/ };

/**
 * The fake: commands run as host processes in the workspace (no isolation), with the node and npm on
 * this process's PATH. Under scripts/node24, as every test runs, that node is the Node.js 24 binary the
 * sandbox image is built from (sandbox/image/build.sh), so the demo's `node --test` runs as in the
 * image; on another major the fake refuses to start rather than test something else.
 */
export const FAKE: GuardSandbox = {
  name: 'fake sandbox (processes, no isolation)',
  create() {
    hostNodeIsImageNode();
    return new ProcessSandbox();
  },
  home: /\/nightshift-fake-home-[^/]+$/,
};

let hostNode: string | undefined;
function hostNodeIsImageNode(): void {
  hostNode ??= execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
  const image = DEFAULT_NODE_IMAGE.split(':')[1];
  if (!hostNode.startsWith(`v${image}.`)) {
    throw new Error(`the node on PATH is ${hostNode}, the sandbox image's is ${image}: run the tests under scripts/node24`);
  }
}

/** A world on the suite's sandbox (test/helpers/agents.ts). */
export const guardWorld = (on: GuardSandbox) => (script: MockScriptInput['roles'], settings: Record<string, string> = {}) =>
  world(script, settings, { sandbox: on.create });

// The demo's answers, reused as the "good" answers of each role.
export const SPEC = demoAnswer('refiner', 1) as Spec;
export const GOOD_TESTS = demoAnswer('test-author', 1);
export const GOOD_CHANGE = demoAnswer('coder', 0);
export const APPROVAL = demoAnswer('reviewer', 0);
export const TEST_FILE = 'test/slugify-max-length.test.js';
export const goodTestContent = (GOOD_TESTS.files as { path: string; content: string }[])[0]!.content;
export const DEMO_REPO = join(import.meta.dirname, '../../examples/demo/repo');
export const ORIGINAL_SOURCE = readFileSync(join(DEMO_REPO, 'src/slugify.js'), 'utf8');
export const goodSource = (GOOD_CHANGE.files as { path: string; content: string }[])[0]!.content;

export const testPlan = (files: { path: string; content: string }[]): Args => ({ ...GOOD_TESTS, files });
export const change = (files: { path: string; content: string }[], notes = 'a change'): Args => ({ files, notes });

/** Runs the test author with the demo's tests: the tests commit every coder and reviewer test starts from. */
export async function writeTests(w: World, ticketId = w.ticketId): Promise<WritingTestsOutput> {
  const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author', { ticketId }));
  return advanced<WritingTestsOutput>(outcome);
}

/** A source change that implements maxLength but leaves a trailing dash: the AC2 test fails. */
export const DASHY_SOURCE = `export function slugify(text, { maxLength = Infinity } = {}) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, maxLength);
}
`;

export const MINUTES = 60_000;
