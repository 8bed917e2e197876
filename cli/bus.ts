import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { busOptionsOf, seedFile, type ConnectOptions, type ProcessKind } from '../bus/index.ts';
import type { Config } from '../shared/index.ts';

/** Where `nightshift up` keeps the embedded server's configuration and each process kind's seed. */
export function credentialsDir(config: Pick<Config, 'NIGHTSHIFT_DATA_DIR'>, cwd = process.cwd()): string {
  return resolve(cwd, config.NIGHTSHIFT_DATA_DIR, 'auth');
}

/** Whether the configuration names a way to authenticate to NATS. */
export function hasCredentials(config: Pick<Config, 'NATS_CREDS' | 'NATS_NKEY' | 'NATS_USER' | 'NATS_TOKEN'>): boolean {
  return Boolean(config.NATS_CREDS || config.NATS_NKEY || config.NATS_USER || config.NATS_TOKEN);
}

/**
 * The connection of a CLI command: `read` commands connect as the read-only `viewer`, the others as
 * the `operator`. With no credentials configured, the seed `nightshift up` wrote for that kind under
 * the data directory is used when it is there, so the local stack needs no setup.
 */
export function cliBusOptions(config: Config, access: 'read' | 'write'): Pick<ConnectOptions, 'url' | 'prefix' | 'kind' | 'auth'> {
  return localBusOptions(config, access === 'read' ? 'viewer' : 'operator');
}

/**
 * The connection of a process of `kind` started by hand: the configured credentials, or without
 * any, the seed `nightshift up` wrote for that kind under the data directory when it is there.
 */
export function localBusOptions(config: Config, kind: ProcessKind): Pick<ConnectOptions, 'url' | 'prefix' | 'kind' | 'auth'> {
  const opts = busOptionsOf(config, kind);
  if (hasCredentials(config)) return opts;
  const seed = seedFile(credentialsDir(config), kind);
  return existsSync(seed) ? { ...opts, auth: { ...opts.auth, nkey: seed } } : opts;
}
