import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Forge, ForgeRouter, PullRequestStore } from './forge.ts';
import { connectGitHub } from './github-client.ts';
import { createGitHubForge } from './github.ts';
import { createLocalForge } from './local.ts';

/** Routes each repository to the first forge that handles it, else to `fallback`. */
export function createForgeRouter(forges: readonly Forge[], fallback: Forge): ForgeRouter {
  return { forgeFor: (repo) => forges.find((f) => f.handles(repo)) ?? fallback };
}

/**
 * The forges of a configuration: GitHub for repositories on it when GITHUB_TOKEN or a GitHub App is
 * configured, the local forge for everything else. Throws ConfigError for incomplete App settings.
 */
export function forgesFromConfig({ config, store, log, clock }: { config: Config; store: PullRequestStore; log: Logger; clock?: () => Date }): ForgeRouter {
  const local = createLocalForge({ store, ...(clock && { clock }) });
  const github = connectGitHub(config, { log, ...(clock && { clock }) });
  if (!github) return createForgeRouter([], local);
  log.info({ auth: github.auth, api: github.apiUrl, hosts: github.hosts }, 'GitHub forge configured');
  return createForgeRouter([createGitHubForge({ github, store, log, ...(clock && { clock }) })], local);
}
