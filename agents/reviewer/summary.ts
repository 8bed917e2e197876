import type { WorkItemData } from '../../bus/index.ts';
import { testLabel } from '../../sandbox/index.ts';
import { formatDuration, stripTerminalCodes, type RoleUsage } from '../../shared/index.ts';
import { maybeArtifact } from '../kit/artifacts.ts';
import { type CodingOutput, type Spec, type SuiteRun, TriagingOutput, type WritingTestsOutput } from '../../bus/index.ts';

export interface SummaryInput {
  work: WorkItemData;
  spec: Spec;
  tests: WritingTestsOutput;
  coding: CodingOutput;
  fresh: SuiteRun;
  /** The reviewer's coverage, already resolved against the fresh run's tests, and the names it gave that are no test. */
  review: { summary: string; coverage: { criterion: string; tests: string[] }[]; comments: { path?: string | undefined; text: string }[]; unknownTests?: string[] };
  /** Tokens by role, this review included. */
  usage: Record<string, RoleUsage>;
  round: number;
  /** The repository's instruction files the stages followed (`AGENTS.md`…), root first. */
  instructions?: readonly string[];
}

const run = (r: SuiteRun) => {
  const t = r.tests?.totals;
  const runners = r.tests?.runners.join(', ');
  const counts = t
    ? `: ${t.total} tests (${runners}), ${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ''}`
    : r.tests === null
      ? ': no per-test results'
      : '';
  return `\`${r.command}\` ${r.passed ? 'passed' : `failed (${r.failure})`} in ${formatDuration(r.durationMs)}${counts}`;
};

const STATUS = { passed: '✅ passed', failed: '❌ failed', skipped: '⏭️ skipped' } as const;

/** A test's status in a run's evidence, by its label: named there, or (a test not named) passed when the run says every other test did. */
function statusIn(r: SuiteRun, label: string): string {
  const named = r.tests?.tests.find((t) => testLabel(t) === label);
  if (named) return STATUS[named.status];
  return r.tests ? 'not reported' : 'no per-test results';
}

/** Rows of the criteria table: one per criterion and test, with the test's red and green results. */
function coverageRows(s: SummaryInput, coverage: Map<string, string[]>): string[] {
  const newTests = new Set(s.tests.proof?.newTests ?? []);
  const already = new Set(s.tests.proof?.alreadyPassing ?? []);
  const rows: string[] = [];
  for (const c of s.spec.acceptanceCriteria) {
    const criterion = `**${c.id}** ${c.text.replaceAll('|', '\\|')}`;
    const tests = coverage.get(c.id) ?? [];
    if (tests.length === 0) rows.push(`| ${criterion} | (no test named) | | |`);
    for (const [i, label] of tests.entries()) {
      const red = statusIn(s.tests.red, label);
      const base = already.has(label) ? ' (already passed on the base)' : s.tests.proof && !newTests.has(label) ? ' (existing test)' : '';
      rows.push(`| ${i === 0 ? criterion : ''} | \`${label.replaceAll('|', '\\|').replaceAll('`', "'")}\` | ${red}${base} | ${statusIn(s.fresh, label)} |`);
    }
  }
  return rows;
}

function fence(text: string): string {
  return `\`\`\`\n${text.replaceAll('```', "'''").trim()}\n\`\`\``;
}

/** For a triaged bug: who reported it, its severity and component, and that the fix starts from its reproduction. */
function bugLines(work: WorkItemData): string[] {
  const triage = maybeArtifact(work, 'triaging', TriagingOutput)?.triage;
  if (!triage) return [];
  const by = work.ticket.requester ? `reported by ${work.ticket.requester}, ` : '';
  return [`Bug (${by}severity ${triage.severity}, component \`${triage.component}\`): the first commit reproduces it with a test that failed on the unchanged code.`, ''];
}

/**
 * The pull request description: what changed, criteria mapped to tests, red/green evidence, cost.
 * Free of terminal escape codes, also where they come from evidence stored before runs were cleaned.
 */
export function pullRequestBody(s: SummaryInput): string {
  const coverage = new Map<string, string[]>();
  for (const c of [...s.tests.coverage, ...s.review.coverage]) {
    coverage.set(c.criterion, [...new Set([...(coverage.get(c.criterion) ?? []), ...c.tests])]);
  }
  const tokens = Object.entries(s.usage);
  const total = tokens.reduce((n, [, u]) => n + u.totalTokens, 0);
  const lines = [
    `## Summary`,
    '',
    s.review.summary.trim(),
    '',
    `Ticket \`${s.work.ticket.id}\`: ${s.work.ticket.title}`,
    '',
    ...(s.instructions?.length ? [`Repository instructions followed: ${s.instructions.map((p) => `\`${p.replaceAll('`', "'")}\``).join(', ')}`, ''] : []),
    ...bugLines(s.work),
    `## What changed`,
    '',
    ...s.coding.files.filter((f) => !s.tests.files.includes(f)).map((f) => `- \`${f}\``),
    '',
    `Tests (written first): ${s.tests.files.map((f) => `\`${f}\``).join(', ')}`,
    ...s.tests.changedExisting.map((c) => `- changed existing test \`${c.path}\`: ${c.reason}`),
    '',
    `## Acceptance criteria and the tests that cover them`,
    '',
    'Each test as its runner reported it: red is the run with the new tests on the unchanged code, green the reviewer\'s fresh run with the change.',
    '',
    '| Criterion | Test | Red (unchanged code) | Green (with the change) |',
    '| --- | --- | --- | --- |',
    ...coverageRows(s, coverage),
    ...(s.review.unknownTests?.length ? ['', `Named by the reviewer but no test the runner reported, so left out: ${s.review.unknownTests.map((n) => `\`${n}\``).join(', ')}.`] : []),
    '',
    `## Test-first evidence`,
    '',
    `1. Unchanged code, before any test was added: ${run(s.tests.baseline)}.`,
    `2. With the new tests (commit \`${s.tests.commit.slice(0, 12)}\`), unchanged code — red as required: ${run(s.tests.red)}.`,
    ...(s.tests.proof ? [`   New tests: ${s.tests.proof.newTests.length}, of which ${s.tests.proof.newTests.length - s.tests.proof.alreadyPassing.length} failed${s.tests.proof.alreadyPassing.length ? ` and ${s.tests.proof.alreadyPassing.length} already passed on the base` : ''}; every test that passed before still passed.`] : []),
    `3. With the change (commit \`${s.coding.commit.slice(0, 12)}\`): ${run(s.coding.green)}.`,
    `4. Re-run by the reviewer in a fresh sandbox on a fresh clone: ${run(s.fresh)}; every test that ran red passed.`,
    '',
    '<details><summary>Red run output (step 2)</summary>',
    '',
    fence(s.tests.red.output),
    '',
    '</details>',
    '',
  ];
  if (s.review.comments.length > 0) {
    lines.push('## Reviewer notes', '', ...s.review.comments.map((c) => `- ${c.path ? `\`${c.path}\`: ` : ''}${c.text}`), '');
  }
  lines.push(
    `## Cost`,
    '',
    '| Role | Model calls | Input tokens | Output tokens |',
    '| --- | ---: | ---: | ---: |',
    ...tokens.map(([role, u]) => `| ${role} | ${u.calls} | ${u.inputTokens} | ${u.outputTokens} |`),
    `| **total** | | | **${total} tokens** |`,
    '',
    `Review round ${s.round}. Opened by nightshift's reviewer agent.`,
  );
  return stripTerminalCodes(lines.join('\n'));
}
