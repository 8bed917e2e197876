import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPullRequestStore } from '../../bus/index.ts';
import { forgeContract } from '../../test/contracts/forge.contract.ts';
import { setup } from '../../test/helpers/env.ts';
import { bareDemoRepo } from '../../test/helpers/github.ts';
import { createLocalForge } from './local.ts';

/* The local forge (the default): the ticket branch pushed to the origin repository, pull requests recorded on the bus. */
forgeContract({
  name: 'local',
  forgeName: 'local',
  async world() {
    const env = await setup();
    const root = mkdtempSync(join(tmpdir(), 'ns-local-forge-'));
    const origin = await bareDemoRepo(root, 'acme', 'widgets');
    const store = await createPullRequestStore(env.bus);
    const forge = createLocalForge({ store });
    return {
      forge,
      store,
      repo: { path: origin },
      repoName: origin,
      origin,
      workspaces: join(root, 'workspaces'),
      pullsAtForge: async () => (await store.list()).length,
      async [Symbol.asyncDispose]() {
        await env[Symbol.asyncDispose]();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
});
