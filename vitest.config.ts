import { randomUUID } from 'node:crypto';
import { defineConfig } from 'vitest/config';
import { scaled, TIME_SCALE, TIME_SCALE_ENV } from './test/helpers/time.ts';

// One id per run, inherited by every test process and everything it starts (test/helpers/leftovers.ts);
// .ci/run sets its own to look for leftovers after the suite.
process.env.NIGHTSHIFT_TEST_RUN ||= `local-${randomUUID()}`;
// Every test process scales its deadlines by the same factor (test/helpers/time.ts).
process.env[TIME_SCALE_ENV] = String(TIME_SCALE);

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          setupFiles: ['test/setup/processes.ts'],
          testTimeout: scaled(5_000),
          hookTimeout: scaled(10_000),
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
          testTimeout: scaled(60_000),
          hookTimeout: scaled(60_000),
          fileParallelism: false,
        },
      },
    ],
  },
});
