import { randomUUID } from 'node:crypto';
import { defineConfig } from 'vitest/config';

// One id per run, inherited by every test process and everything it starts (test/helpers/leftovers.ts);
// .ci/run sets its own to look for leftovers after the suite.
process.env.NIGHTSHIFT_TEST_RUN ||= `local-${randomUUID()}`;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          setupFiles: ['test/setup/processes.ts'],
          include: ['**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '.toolchain/**', '.nightshift/**', 'examples/**'],
        },
      },
      {
        test: {
          name: 'int',
          setupFiles: ['test/setup/processes.ts', 'test/setup/containers.ts'],
          include: ['**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '.toolchain/**', '.nightshift/**', 'examples/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
