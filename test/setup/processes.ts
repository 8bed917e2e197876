/**
 * Set up before every test file (vitest `setupFiles`, both projects):
 * - marks the file's processes (`NIGHTSHIFT_TEST_FILE`, inherited by everything it starts) and its
 *   sandbox containers (`NIGHTSHIFT_SANDBOX_LABELS`, read by agents a test starts);
 * - after the file, kills what it started that is still running (a test that failed or timed out may
 *   never have reached its own `finally`), and names each one, so the leak gets fixed;
 * - fails the test during which this process emitted a warning (deprecation, MaxListenersExceeded…):
 *   a passing run prints none.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach } from 'vitest';
import { processesWith, TEST_FILE_ENV, testLabelsSetting } from '../helpers/leftovers.ts';
import { waitFor } from '../helpers/wait.ts';

const file = randomUUID();
process.env[TEST_FILE_ENV] = file;
process.env.NIGHTSHIFT_SANDBOX_LABELS = testLabelsSetting();

// Once per process, should a worker run several files.
const WARNINGS = Symbol.for('nightshift.test.warnings');
const shared = globalThis as { [WARNINGS]?: string[] };
const warnings = (shared[WARNINGS] ??= (() => {
  const list: string[] = [];
  process.on('warning', (w) => list.push(`${w.name}: ${w.message}`));
  return list;
})());

afterEach(() => {
  const emitted = warnings.splice(0);
  if (emitted.length > 0) throw new Error(`this test made Node.js print ${emitted.length} warning(s):\n${emitted.join('\n')}`);
});

afterAll(async () => {
  // What is still exiting (sent SIGTERM by a test's last dispose) gets a moment to finish.
  const left = await waitFor('the processes of this file to exit', () => processesWith(TEST_FILE_ENV, file).length === 0 || undefined, { timeoutMs: 5_000 }).then(
    () => [],
    () => processesWith(TEST_FILE_ENV, file),
  );
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (left.length > 0) console.error(`killed ${left.length} process(es) this test file left running:\n${left.map((p) => `  ${p.pid} ${p.command}`).join('\n')}`);
});
