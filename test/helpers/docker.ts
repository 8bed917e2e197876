import { describe, it } from 'vitest';
import { DEFAULT_NODE_IMAGE, DockerSandbox, GATE_IMAGE, imageMissingMessage } from '../../sandbox/index.ts';

/** Whether Docker tests can run here: an engine answers and the default sandbox and gate images are in it. */
export type DockerProbe = { ok: true; detail: string } | { ok: false; reason: string };

let probe: Promise<DockerProbe> | undefined;

/** Probes once per test file (engine, then `DEFAULT_NODE_IMAGE` and `GATE_IMAGE`). */
export function probeDocker(): Promise<DockerProbe> {
  probe ??= (async (): Promise<DockerProbe> => {
    const sandbox = new DockerSandbox();
    const engine = await sandbox.available();
    if (!engine.ok) return engine;
    // The gate image serves every setup step with a network (sandbox/gate.ts).
    for (const image of [DEFAULT_NODE_IMAGE, GATE_IMAGE]) {
      try {
        await sandbox.ensureImage(image);
      } catch {
        return { ok: false, reason: imageMissingMessage(image) };
      }
    }
    return engine;
  })();
  return probe;
}

const probed = await probeDocker();

/** True under CI (`CI=true`), where a missing engine or image fails the Docker tests instead of skipping them. */
export const IN_CI = process.env.CI === 'true';

/**
 * `describe` for tests that need Docker and the default sandbox and gate images. When they are missing: under
 * CI the suite fails (one test saying why), never skips; elsewhere it is skipped, with the reason in
 * its name.
 */
export function describeDocker(name: string, fn: () => void): void {
  if (probed.ok) return void describe(name, fn);
  if (IN_CI) {
    return void describe(name, () => {
      it('needs a Docker engine and the sandbox image (CI=true: not skipped)', () => {
        throw new Error(`${probed.reason}\n(.ci/run starts dockerd with scripts/dockerd and builds the images with sandbox/image/build.sh and build-gate.sh)`);
      });
    });
  }
  describe.skip(`${name} [skipped: ${probed.reason}]`, fn);
}

/** `it` for a single test that needs Docker, under the same rule as `describeDocker`. */
export function itIfDocker(name: string, fn: () => Promise<void> | void, timeoutMs?: number): void {
  if (probed.ok) return void it(name, fn, timeoutMs);
  if (IN_CI) {
    return void it(`${name} (needs Docker; CI=true: not skipped)`, () => {
      throw new Error(probed.reason);
    });
  }
  it.skip(`${name} [skipped: ${probed.reason}]`, fn);
}
