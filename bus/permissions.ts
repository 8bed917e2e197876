import { ROLES, type Role } from '../shared/index.ts';
import { SLACK_KEY_PREFIXES } from './escalations.ts';
import { ISSUE_ASK_KEY_PREFIX } from './issue-asks.ts';
import { createNames, createSubjects, type Names, type Subjects } from './subjects.ts';

/**
 * Every kind of process that connects to the bus, each with its own credentials:
 * - `coordinator`: provisions the streams and buckets, serves intake, owns ticket state;
 * - each agent role: takes its role's work, reports on its role's stages, reads tickets;
 * - `slack`, `github`: the gateways where people answer, report bugs and review;
 * - `web`: the web console (gateways/web): reads tickets and pull requests, answers and cancels;
 * - `operator`: a person at the CLI (post, cancel, answer, read);
 * - `viewer`: the CLI's read-only commands (show, list, wait, transcripts, pull requests);
 * - `intake`: a client that may only post tickets and bug reports.
 */
export const PROCESS_KINDS = ['coordinator', ...ROLES, 'slack', 'github', 'web', 'operator', 'viewer', 'intake'] as const;
export type ProcessKind = (typeof PROCESS_KINDS)[number];

/** A NATS user's permissions, in nats-server's terms. */
export interface Permissions {
  publish: string[];
  subscribe: string[];
  /** May answer requests (publish to the reply subject of a request it received). */
  allowResponses: boolean;
}

const API = '$JS.API';

/**
 * The inbox prefix a process kind receives replies on. Each kind has its own, and may subscribe to
 * its own only, so that no process reads another's replies (JetStream acks, KV reads, intake replies).
 */
export function inboxPrefix(kind: ProcessKind): string {
  // The CLI's two kinds are one person's: they share an inbox.
  return `_INBOX_${kind === 'operator' || kind === 'viewer' ? 'cli' : kind}`;
}

/** The JetStream API calls of reading a stream through short-lived consumers (KV watch and list, ordered reads). */
function streamReader(stream: string): string[] {
  return [
    `${API}.STREAM.INFO.${stream}`,
    `${API}.CONSUMER.CREATE.${stream}`,
    `${API}.CONSUMER.CREATE.${stream}.>`,
    `${API}.CONSUMER.INFO.${stream}.>`,
    `${API}.CONSUMER.DELETE.${stream}.>`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Reading a KV bucket: get (direct or not), list keys and watch. */
function kvReader(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [...streamReader(stream), `${API}.DIRECT.GET.${stream}`, `${API}.DIRECT.GET.${stream}.>`, `${API}.STREAM.MSG.GET.${stream}`];
}

/** Writing (put, create, update, delete) the keys of a bucket that match one of the patterns. */
function kvWriter(bucket: string, keys: readonly string[]): string[] {
  return keys.map((k) => `$KV.${bucket}.${k}`);
}

/** Pulling from one durable consumer and acknowledging what it delivers. */
function puller(stream: string, consumer: string): string[] {
  return [`${API}.CONSUMER.INFO.${stream}.${consumer}`, `${API}.CONSUMER.MSG.NEXT.${stream}.${consumer}`, `$JS.ACK.${stream}.${consumer}.>`];
}

/** Creating and updating a stream (provisioning); never deleting or purging it. */
function streamOwner(stream: string): string[] {
  return [`${API}.STREAM.INFO.${stream}`, `${API}.STREAM.CREATE.${stream}`, `${API}.STREAM.UPDATE.${stream}`];
}

/** Creating and updating the durable consumers of a stream (provisioning). */
function consumerOwner(stream: string): string[] {
  return [`${API}.CONSUMER.CREATE.${stream}.>`, `${API}.CONSUMER.DURABLE.CREATE.${stream}.>`, `${API}.CONSUMER.INFO.${stream}.>`];
}

function agent(role: Role, s: Subjects, n: Names): Permissions {
  return {
    publish: [
      ...puller(n.workStream, n.roleConsumer(role)),
      s.eventsFrom(role),
      s.transcriptsBy(role),
      ...kvReader(n.ticketsBucket),
      ...kvReader(n.prsBucket),
      // The reviewer opens pull requests: the local forge records them and numbers them.
      ...(role === 'reviewer' ? kvWriter(n.prsBucket, ['>']) : []),
    ],
    // Following its ticket's record while it works (the fence): what it may read with a KV get anyway.
    subscribe: [s.ticketRecords],
    allowResponses: false,
  };
}

/**
 * The permissions of one process kind under a prefix, derived from the subject grammar and the names
 * of the streams and buckets, so that they change when the code does.
 */
export function permissionsFor(kind: ProcessKind, prefix = 'nightshift'): Permissions {
  const s = createSubjects(prefix);
  const n = createNames(prefix);
  const intake = [s.ticketIntake, s.bugIntake];
  const reader = [...kvReader(n.ticketsBucket), ...kvReader(n.prsBucket), ...streamReader(n.transcriptsStream)];
  const base = ((): Permissions => {
    switch (kind) {
      case 'coordinator':
        return {
          publish: [
            `${API}.INFO`,
            ...[n.workStream, n.eventsStream, n.rejectedStream, n.advisoriesStream, n.transcriptsStream].flatMap(streamOwner),
            ...[n.ticketsBucket, n.prsBucket, n.escalationsBucket].flatMap((b) => streamOwner(`KV_${b}`)),
            ...[n.workStream, n.eventsStream, n.advisoriesStream].flatMap(consumerOwner),
            ...puller(n.eventsStream, n.coordinatorConsumer),
            ...puller(n.advisoriesStream, n.coordinatorConsumer),
            s.workAll,
            `${API}.STREAM.MSG.GET.${n.workStream}`,
            `${API}.DIRECT.GET.${n.workStream}`,
            `${API}.STREAM.MSG.DELETE.${n.workStream}`,
            // Whether a stage's result waits to be applied (the lost-work check).
            `${API}.STREAM.MSG.GET.${n.eventsStream}`,
            s.rejectedAll,
            ...kvReader(n.ticketsBucket),
            ...kvWriter(n.ticketsBucket, ['>']),
          ],
          subscribe: intake,
          allowResponses: true,
        };
      case 'slack':
        return {
          publish: [
            ...intake,
            s.eventsFrom('slack'),
            ...kvReader(n.ticketsBucket),
            ...kvReader(n.escalationsBucket),
            ...kvWriter(n.escalationsBucket, SLACK_KEY_PREFIXES.map((k) => `${k}.>`)),
          ],
          subscribe: [],
          allowResponses: false,
        };
      case 'github':
        return {
          publish: [
            ...intake,
            s.eventsFrom('github'),
            ...kvReader(n.ticketsBucket),
            ...kvReader(n.prsBucket),
            // A pull request merged or closed on GitHub is recorded as such.
            ...kvWriter(n.prsBucket, ['pr.>']),
            ...kvReader(n.escalationsBucket),
            ...kvWriter(n.escalationsBucket, [`${ISSUE_ASK_KEY_PREFIX}.>`]),
          ],
          subscribe: [],
          allowResponses: false,
        };
      // The console posts nothing on intake and reads no transcripts: it shows tickets and pull
      // requests, and answers and cancels as its own origin.
      case 'web':
        return { publish: [s.eventsFrom('web'), ...kvReader(n.ticketsBucket), ...kvReader(n.prsBucket)], subscribe: [], allowResponses: false };
      case 'operator':
        return { publish: [...intake, s.eventsFrom('cli'), ...reader], subscribe: [], allowResponses: false };
      case 'viewer':
        return { publish: reader, subscribe: [], allowResponses: false };
      case 'intake':
        return { publish: intake, subscribe: [], allowResponses: false };
      default:
        return agent(kind, s, n);
    }
  })();
  return {
    publish: [...new Set(base.publish)],
    subscribe: [...new Set([...base.subscribe, `${inboxPrefix(kind)}.>`])],
    allowResponses: base.allowResponses,
  };
}
