import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessSandbox } from '../test/fakes/sandbox.ts';
import { SessionQueue, StageSandbox, type SandboxSession, type SessionSpecInput } from './index.ts';

/** The fake sandbox, counting the sessions it opens and closes. */
class CountingSandbox extends ProcessSandbox {
  opened: SessionSpecInput[] = [];
  closed = 0;

  override async session(spec: SessionSpecInput): Promise<SandboxSession> {
    const session = await super.session(spec);
    this.opened.push(spec);
    const close = async () => {
      this.closed += 1;
      await session.close();
    };
    return { run: (c, o) => session.run(c, o), close, [Symbol.asyncDispose]: close };
  }
}

describe('StageSandbox', () => {
  let ws: string;
  beforeEach(() => {
    ws = mkdtempSync(join(realpathSync(tmpdir()), 'nightshift-stage-'));
  });
  afterEach(() => {
    rmSync(ws, { recursive: true, force: true });
  });

  it('runs the commands without network of one workspace in one session, and a setup with network cold', async () => {
    const inner = new CountingSandbox();
    const stage = new StageSandbox(inner);
    try {
      const setup = await stage.run({ image: 'img', workspace: ws, command: 'echo setup > s.txt', network: 'bridge' });
      expect(setup.exitCode).toBe(0);
      expect(inner.opened).toEqual([]);
      for (const command of ['cat s.txt', 'echo two']) {
        expect((await stage.run({ image: 'img', workspace: ws, command })).exitCode).toBe(0);
      }
      expect(inner.opened).toHaveLength(1);
      // Other limits are another session: a session's limits are its container's.
      await stage.run({ image: 'img', workspace: ws, command: 'true', limits: { pids: 64 } });
      expect(inner.opened).toHaveLength(2);
      expect(inner.runs.map((r) => [r.command, r.network])).toEqual([
        ['echo setup > s.txt', 'bridge'],
        ['cat s.txt', 'none'],
        ['echo two', 'none'],
        ['true', 'none'],
      ]);
    } finally {
      await stage.close();
    }
    expect(inner.closed).toBe(2);
    await expect(stage.run({ image: 'img', workspace: ws, command: 'true' })).rejects.toMatchObject({ code: 'sandbox_failed' });
  });

  it('keeps no session that failed to open: the next run tries again and fails as run would', async () => {
    const stage = new StageSandbox(new CountingSandbox({ images: ['img'] }));
    await expect(stage.run({ image: 'other', workspace: ws, command: 'true' })).rejects.toMatchObject({ code: 'image_missing' });
    await expect(stage.run({ image: 'img', workspace: join(ws, 'missing'), command: 'true' })).rejects.toMatchObject({ code: 'invalid_workspace' });
    expect((await stage.run({ image: 'img', workspace: ws, command: 'echo ok' })).stdout).toBe('ok\n');
    await stage.close();
  });
});

describe('SessionQueue', () => {
  it('runs work one at a time in order, and refuses work once closed', async () => {
    const queue = new SessionQueue();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = queue.run(async () => {
      order.push('first start');
      await gate;
      order.push('first end');
    });
    const second = queue.run(async () => void order.push('second'));
    await Promise.resolve();
    expect(order).toEqual(['first start']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first start', 'first end', 'second']);
    const failing = queue.run(async () => {
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    await queue.close();
    await expect(queue.run(async () => 1)).rejects.toMatchObject({ code: 'sandbox_failed' });
  });
});
