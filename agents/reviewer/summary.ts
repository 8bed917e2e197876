import type { WorkItemData } from '../../bus/index.ts';
import { formatDuration, stripTerminalCodes, type RoleUsage } from '../../shared/index.ts';
import { maybeArtifact, TriagingOutput, type CodingOutput, type Spec, type WritingTestsOutput } from '../kit/artifacts.ts';
import type { SuiteRun } from '../kit/suite.ts';

export interface SummaryInput {
  work: WorkItemData;
  spec: Spec;
  tests: WritingTestsOutput;
  coding: CodingOutput;
  fresh: SuiteRun;
  review: { summary: string; coverage: { criterion: string; tests: string[] }[]; comments: { path?: string | undefined; text: string }[] };
  /** Tokens by role, this review included. */
  usage: Record<string, RoleUsage>;
  round: number;
}

const run = (r: SuiteRun) => {
  const counts = r.counts ? `, ${r.counts.passed} of ${r.counts.total} tests passing${r.counts.failed ? `, ${r.counts.failed} failing` : ''}` : '';
  return `\`${r.command}\`: ${r.passed ? 'passed' : `failed (${r.failure})`} in ${formatDuration(r.durationMs)}${counts}`;
};

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
    '| Criterion | Tests |',
    '| --- | --- |',
    ...s.spec.acceptanceCriteria.map((c) => `| **${c.id}** ${c.text.replaceAll('|', '\\|')} | ${(coverage.get(c.id) ?? ['(none named)']).map((t) => `\`${t}\``).join(', ')} |`),
    '',
    `## Test-first evidence`,
    '',
    `1. Unchanged code, before any test was added: ${run(s.tests.baseline)}.`,
    `2. With the new tests (commit \`${s.tests.commit.slice(0, 12)}\`), unchanged code — red as required: ${run(s.tests.red)}.`,
    `3. With the change (commit \`${s.coding.commit.slice(0, 12)}\`): ${run(s.coding.green)}.`,
    `4. Re-run by the reviewer in a fresh sandbox on a fresh clone: ${run(s.fresh)}.`,
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
