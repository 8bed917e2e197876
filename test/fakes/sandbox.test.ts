import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_NODE_IMAGE } from '../../sandbox/index.ts';
import { sandboxContract } from '../contracts/sandbox.contract.ts';
import { ProcessSandbox } from './sandbox.ts';

sandboxContract({ name: 'ProcessSandbox (fake, no isolation)', image: DEFAULT_NODE_IMAGE, create: () => new ProcessSandbox() });

describe('ProcessSandbox extras', () => {
  it('records every run with defaults applied', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'nightshift-fake-'));
    try {
      const sandbox = new ProcessSandbox();
      await sandbox.run({ image: 'any', workspace: ws, command: 'true', network: 'bridge' });
      expect(sandbox.runs).toHaveLength(1);
      expect(sandbox.runs[0]).toMatchObject({ network: 'bridge', cwd: '.', timeoutMs: 600_000, limits: { pids: 512 } });
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('knows only the images it is given, when given some', async () => {
    const sandbox = new ProcessSandbox({ images: [DEFAULT_NODE_IMAGE] });
    await sandbox.ensureImage(DEFAULT_NODE_IMAGE);
    await expect(sandbox.ensureImage('nightshift-sandbox-rust:1')).rejects.toMatchObject({
      code: 'image_missing',
      message: /ships no recipe/,
    });
  });
});
