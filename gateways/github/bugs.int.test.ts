import { describe, expect, it } from 'vitest';
import { TicketStore } from '../../bus/index.ts';
import { loadConfig, type Config, type Ticket } from '../../shared/index.ts';
import { setup, type TestEnv } from '../../test/helpers/env.ts';
import { delivery, issueEvent, post, receiverSettings } from '../../test/helpers/github.ts';
import { readTicket } from '../../test/helpers/tickets.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { startGitHubGateway } from './main.ts';
import type { WebhookServer } from './server.ts';

/*
 * GitHub issues carrying the bug label → bug reports on bug intake, through a real coordinator and the
 * receiver over HTTP, with signed deliveries built from @octokit/webhooks-examples. No agent runs: an
 * accepted bug is dispatched to the triager and rests in `triaging`.
 */

const SECRET = 'webhook-secret-for-bug-tests';
const OWNER = 'acme';
const NAME = 'widgets';
const REPO_URL = `https://github.com/${OWNER}/${NAME}`;
const ISSUE_LABEL = 'nightshift';
const BUG_LABEL = 'nightshift-bug';

interface World extends AsyncDisposable {
  env: TestEnv;
  config: Config;
  tickets: TicketStore;
  receiver: WebhookServer;
  /** The ticket once the coordinator has dispatched it to its first stage. */
  dispatched(id: string): Promise<Ticket>;
  /** Refused payloads kept on the rejected stream under `rejected.bugs`. */
  rejectedBugs(): Promise<number>;
}

async function world(settings: Record<string, string> = {}, { coordinator: withCoordinator = true } = {}): Promise<World> {
  const env = await setup();
  const config = loadConfig(
    {},
    { ...env.childEnv, ...receiverSettings(SECRET), ...settings },
  );
  const log = env.sink.log;
  const stack = new AsyncDisposableStack();
  if (withCoordinator) {
    const coordinator = createCoordinator({ bus: env.bus, config, log });
    await coordinator.start();
    stack.defer(() => coordinator.stop());
  }
  const receiver = await startGitHubGateway({ bus: env.bus, config, log });
  stack.defer(() => receiver.close());
  const tickets = new TicketStore(await env.bus.tickets());
  return {
    env,
    config,
    tickets,
    receiver,
    dispatched: (id) =>
      waitFor(`ticket ${id} dispatched`, async () => {
        const t = await readTicket(tickets, id);
        return t.timeline.some((e) => e.event === 'dispatched') ? t : undefined;
      }),
    async rejectedBugs() {
      const info = await env.bus.jsm.streams.info(env.bus.names.rejectedStream, { subjects_filter: env.bus.subjects.rejected('bugs') });
      return info.state.subjects?.[env.bus.subjects.rejected('bugs')] ?? 0;
    },
    async [Symbol.asyncDispose]() {
      await stack.disposeAsync();
      await env[Symbol.asyncDispose]();
    },
  };
}

/** The example `issues` event on acme/widgets#<number>, with the given label (when labeled), labels and body. */
function issue(action: 'labeled' | 'opened', { number = 1, label, labels, body = 'Seen on /blog: "a-b-" instead of "a-b".' }: { number?: number; label?: string; labels: string[]; body?: string | null }) {
  return issueEvent(action, { owner: OWNER, name: NAME, number, title: 'Slugs keep trailing dashes', body, labels, label });
}

describe('GitHub issues with the bug label', () => {
  it('become a bug report: a bug ticket sent to triage, the issue body as its body; once per issue', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_ISSUE_LABEL: ISSUE_LABEL, NIGHTSHIFT_GITHUB_BUG_LABEL: BUG_LABEL });
    const labelled = await delivery(SECRET, 'issues', issue('labeled', { label: BUG_LABEL, labels: [BUG_LABEL, 'bug'] }));
    const first = await post(w.receiver.url, labelled);
    expect(first).toEqual({ status: 202, body: { ok: true, delivery: labelled.id, action: 'bug_report', ticketId: expect.any(String), duplicate: false } });
    const id = String(first.body.ticketId);

    const t = await w.dispatched(id);
    expect(t).toMatchObject({
      type: 'bug',
      title: 'Slugs keep trailing dashes',
      body: 'Seen on /blog: "a-b-" instead of "a-b".',
      repo: { url: REPO_URL },
      externalId: `github:${OWNER}/${NAME}#1`,
      requester: 'github:Codertocat',
      labels: [BUG_LABEL, 'bug'],
    });
    // The issue says nothing beyond its body: no steps, expected, actual, logs or environment.
    expect(t.report ?? {}).toEqual({});
    // A bug goes to the triager first, never straight to the refiner.
    expect(t.timeline.find((e) => e.event === 'transition')).toMatchObject({ from: 'received', to: 'triaging' });
    expect(t.state).not.toBe('refining');

    // The same delivery again, the issue's "opened" event, and the issue label added later: the same ticket.
    const again = await post(w.receiver.url, labelled);
    expect(again).toEqual({ status: 202, body: { ok: true, delivery: labelled.id, action: 'bug_report', ticketId: id, duplicate: true } });
    const opened = await post(w.receiver.url, await delivery(SECRET, 'issues', issue('opened', { labels: [BUG_LABEL] })));
    expect(opened).toMatchObject({ status: 202, body: { action: 'bug_report', ticketId: id, duplicate: true } });
    const both = await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { label: ISSUE_LABEL, labels: [BUG_LABEL, ISSUE_LABEL] })));
    expect(both).toMatchObject({ status: 202, body: { action: 'bug_report', ticketId: id, duplicate: true } });
    expect((await w.tickets.list()).map((x) => x.id)).toEqual([id]);
    expect(await readTicket(w.tickets, id)).toMatchObject({ type: 'bug', body: t.body, labels: t.labels });
  });

  it('become a bug ticket even with an empty body, whose body says so and links the issue', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_BUG_LABEL: BUG_LABEL });
    const answers = [
      await post(w.receiver.url, await delivery(SECRET, 'issues', issue('opened', { number: 2, labels: [BUG_LABEL], body: null }))),
      await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { number: 3, label: BUG_LABEL, labels: [BUG_LABEL], body: '' }))),
    ];
    for (const [i, a] of answers.entries()) {
      expect(a).toMatchObject({ status: 202, body: { ok: true, action: 'bug_report', duplicate: false } });
      const t = await w.dispatched(String(a.body.ticketId));
      expect(t).toMatchObject({ type: 'bug', externalId: `github:${OWNER}/${NAME}#${i + 2}`, requester: 'github:Codertocat' });
      expect(t.body).toBe(`The GitHub issue has no description: ${REPO_URL}/issues/${i + 2}`);
    }
    expect(await w.rejectedBugs()).toBe(0);
  });

  it('are refused (422, kept for audit) when bug intake refuses them; issues with neither label are ignored', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_ISSUE_LABEL: ISSUE_LABEL, NIGHTSHIFT_GITHUB_BUG_LABEL: BUG_LABEL });
    const ignored = [
      await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { label: 'bug', labels: ['bug'] }))),
      await post(w.receiver.url, await delivery(SECRET, 'issues', issue('opened', { labels: ['bug'] }))),
      await post(w.receiver.url, await delivery(SECRET, 'issues', { ...issue('labeled', { label: BUG_LABEL, labels: [BUG_LABEL] }), action: 'unlabeled' })),
    ];
    expect(ignored.map((a) => [a.status, a.body.ignored])).toEqual([
      [200, `issues labeled without the label "${ISSUE_LABEL}" or "${BUG_LABEL}"`],
      [200, `issues opened without the label "${ISSUE_LABEL}" or "${BUG_LABEL}"`],
      [200, `issues unlabeled without the label "${ISSUE_LABEL}" or "${BUG_LABEL}"`],
    ]);

    const bad = issue('labeled', { number: 4, label: BUG_LABEL, labels: [BUG_LABEL] });
    bad.repository = { ...(bad.repository as object), html_url: 'ftp://example.com/x' };
    const refused = await post(w.receiver.url, await delivery(SECRET, 'issues', bad));
    expect(refused).toMatchObject({ status: 422, body: { ok: false, error: { code: 'invalid_repository', issues: [{ path: 'repo.url' }] } } });
    expect(await w.rejectedBugs()).toBe(1);
    expect(await w.tickets.list()).toEqual([]);
  });

  it('stay what they were without a bug label: the issue label makes a feature ticket', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_ISSUE_LABEL: ISSUE_LABEL });
    const bugOnly = await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { label: BUG_LABEL, labels: [BUG_LABEL] })));
    expect(bugOnly).toMatchObject({ status: 200, body: { ignored: `issues labeled without the label "${ISSUE_LABEL}"` } });
    const both = await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { label: ISSUE_LABEL, labels: [BUG_LABEL, ISSUE_LABEL] })));
    expect(both).toMatchObject({ status: 202, body: { action: 'ticket', duplicate: false } });
    expect(await readTicket(w.tickets, String(both.body.ticketId))).toMatchObject({ type: 'feature', labels: [BUG_LABEL, ISSUE_LABEL] });
  });

  it('answer 503 (redeliver later) while no coordinator serves bug intake', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_BUG_LABEL: BUG_LABEL }, { coordinator: false });
    const answer = await post(w.receiver.url, await delivery(SECRET, 'issues', issue('labeled', { label: BUG_LABEL, labels: [BUG_LABEL] })));
    expect(answer).toEqual({ status: 503, body: { ok: false, error: { code: 'no_coordinator', message: `no coordinator serves ${w.env.bus.subjects.bugIntake}` } } });
  });
});
