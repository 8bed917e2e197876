/**
 * After every integration test file (vitest `setupFiles` of the int project): removes the sandbox
 * containers labelled with this file's id that are still there, and names them, so the leak gets
 * fixed. Runs after test/setup/processes.ts gave the file its id.
 */
import { afterAll } from 'vitest';
import { TEST_FILE_ENV, TEST_FILE_LABEL } from '../helpers/leftovers.ts';

afterAll(async () => {
  const file = process.env[TEST_FILE_ENV];
  if (!file) return;
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  const left = await docker.listContainers({ all: true, filters: { label: [`${TEST_FILE_LABEL}=${file}`] } }).catch(() => []);
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  if (left.length > 0) console.error(`removed ${left.length} container(s) this test file left behind:\n${left.map((c) => `  ${c.Id.slice(0, 12)} ${c.Image} ${c.Status}`).join('\n')}`);
});
