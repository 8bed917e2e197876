/**
 * Go detection: go.mod's requirements (whether setup downloads modules) and the check of the Go it
 * asks for against the image's Go.
 */
import { ProfileError } from '../errors.ts';
import { GO_IMAGE, GO_IMAGE_TAG, GO_IMAGE_VERSION } from '../images.ts';
import { GO_TEST_FILES } from '../test-files.ts';
import { readSmall, SCRATCH_DIR, type Detected } from './shared.ts';

/** What a go.mod asks of the toolchain, and whether it has requirements to download. */
export interface GoMod {
  /** The `go` directive's version, e.g. `1.21` or `1.22.3`. */
  go: string | null;
  /** The `toolchain` directive's version, without `go` (e.g. `1.22.1`). */
  toolchain: string | null;
  requires: boolean;
}

/** A simple line reading of go.mod (no parser): directives start a line; comments are `//`. */
export function readGoMod(text: string): GoMod {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/\/\/.*$/, '').trim());
  const directive = (name: string) => lines.map((l) => new RegExp(`^${name}\\s+(\\S+)$`).exec(l)?.[1]).find((v) => v !== undefined) ?? null;
  let requires = false;
  let block = false;
  for (const line of lines) {
    if (block) {
      if (line === ')') block = false;
      else if (line !== '') requires = true;
    } else if (/^require\s*\($/.test(line)) block = true;
    else if (/^require\s+\S/.test(line)) requires = true;
  }
  return { go: directive('go'), toolchain: directive('toolchain')?.replace(/^go/, '') ?? null, requires };
}

export async function detectGo(dir: string): Promise<Detected> {
  const mod = readGoMod((await readSmall(dir, 'go.mod')) ?? '');
  return {
    detectedFrom: 'go.mod',
    image: GO_IMAGE,
    // A module without requirements has nothing to download: it sets up offline.
    setup: mod.requires ? ['go mod download'] : null,
    test: 'go test ./...',
    env: {
      GOMODCACHE: `/workspace/${SCRATCH_DIR}/go/mod`,
      GOCACHE: '/tmp/go-build',
      GOFLAGS: '-modcacherw',
      GOTOOLCHAIN: 'local',
    },
    testFilePatterns: [...GO_TEST_FILES],
    testFileNotes: [],
    notes: [],
    goMod: mod,
  };
}

/** A Go version as numbers: `1.21` → [1, 21, 0]; `1.21rc2` → [1, 21, 0]; null when it is none. */
function goVersion(text: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function newer(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/**
 * Refuses, before anything runs, a go.mod that needs a newer Go than the image has. The image's Go is
 * known for nightshift's Go images only: `GO_IMAGE` has `GO_IMAGE_VERSION` (Debian's), and an image
 * built from a Go release with NIGHTSHIFT_GO_TARBALL is tagged with its version
 * (`nightshift-sandbox-go:1.23.4`); any other image is the user's to match. The `go` directive is the
 * minimum Go; a `toolchain` line is only read by Go 1.21 and later (older ones refuse the go.mod), and
 * with GOTOOLCHAIN=local a newer Go that satisfies the `go` line ignores it.
 */
export function checkGoToolchain(mod: GoMod, image: string, configFile: string): void {
  const tag = image === GO_IMAGE ? GO_IMAGE_VERSION : GO_IMAGE_TAG.exec(image)?.[1];
  const has = tag === undefined ? null : goVersion(tag);
  if (has === null) return;
  const problems: string[] = [];
  const wants = mod.go === null ? null : goVersion(mod.go);
  if (wants && newer(wants, has)) problems.push(`its go directive asks for Go ${mod.go}`);
  if (mod.toolchain !== null && newer([1, 21, 0], has)) problems.push(`its toolchain line (go${mod.toolchain}) needs Go 1.21 or later to be read at all`);
  if (problems.length === 0) return;
  const want = [wants, mod.toolchain !== null ? [1, 21, 0] : null].filter((v): v is [number, number, number] => v !== null).reduce((a, b) => (newer(a, b) ? a : b));
  throw new ProfileError(
    'toolchain_missing',
    `go.mod needs a newer Go than the sandbox image ${image} has (Go ${tag}): ${problems.join('; ')}. ` +
      `No newer Go can be fetched while the tests run (no network, GOTOOLCHAIN=local). Provide one: build a Go image from a Go release ` +
      `you have with \`NIGHTSHIFT_GO_TARBALL=/path/to/go${want.slice(0, 2).join('.')}.x.linux-amd64.tar.gz sandbox/image/build-go.sh\` ` +
      `(it prints the image's name, nightshift-sandbox-go:<version>) and name it with image: in ${configFile}, or name there any image with that Go`,
  );
}
