/** The default sandbox image, for Node.js repositories. Built from local files by `sandbox/image/build.sh`. */
export const DEFAULT_NODE_IMAGE = 'nightshift-sandbox-node:24';

/**
 * The egress gate of dependency-setup steps (sandbox/gate.ts): a shell, iptables and sleep. Built
 * from local files by `sandbox/image/build-gate.sh`; never runs repository code.
 */
export const GATE_IMAGE = 'nightshift-sandbox-gate:1';

/**
 * The sandbox image for Python repositories: Debian's Python 3.11 with venv, pip, pytest, setuptools
 * and wheel (so that a project without dependencies sets up with no network), and git. Built from local
 * files by `sandbox/image/build-python.sh`. Another Python comes from a python-build-standalone
 * "install_only" release the user has: `NIGHTSHIFT_PYTHON_TARBALL=…/cpython-3.x.y+…-install_only.tar.gz
 * build-python.sh` builds `nightshift-sandbox-python:3.x`, which a repository names with `image:` in
 * .nightshift.yml.
 */
export const PYTHON_IMAGE = 'nightshift-sandbox-python:3.11';

/** The Python series (major.minor) `PYTHON_IMAGE`'s recipe installs (Debian bookworm's); build-python.sh checks it. */
export const PYTHON_IMAGE_VERSION = '3.11';

/** nightshift's Python images are tagged with their Python's major.minor: `nightshift-sandbox-python:3.12`. */
export const PYTHON_IMAGE_TAG = /^nightshift-sandbox-python:(\d+\.\d+)$/;

/**
 * The sandbox image for Go repositories: Debian bookworm's Go 1.19 (golang-1.19-go, the only Go Debian
 * ships there) with git. Built from local files by `sandbox/image/build-go.sh`. A newer Go comes from a
 * Go release the user has: `NIGHTSHIFT_GO_TARBALL=…/go1.x.y.linux-amd64.tar.gz build-go.sh` builds
 * `nightshift-sandbox-go:1.x.y`, which a repository names with `image:` in .nightshift.yml.
 */
export const GO_IMAGE = 'nightshift-sandbox-go:1.19';

/** The Go version `GO_IMAGE`'s recipe installs (Debian bookworm's golang-1.19-go); build-go.sh checks it. */
export const GO_IMAGE_VERSION = '1.19.8';

/** nightshift's Go images built from a Go release are tagged with its version: `nightshift-sandbox-go:1.23.4`. */
export const GO_IMAGE_TAG = /^nightshift-sandbox-go:(\d+\.\d+(?:\.\d+)?)$/;

/** The unprivileged uid (and gid) of the `sandbox` user in nightshift's images. */
export const SANDBOX_UID = 10001;

/** The images nightshift can build itself, each with the command that builds it (from the repository root). */
export const IMAGE_RECIPES: Readonly<Record<string, string>> = {
  [DEFAULT_NODE_IMAGE]: 'sandbox/image/build.sh',
  [PYTHON_IMAGE]: 'sandbox/image/build-python.sh',
  [GO_IMAGE]: 'sandbox/image/build-go.sh',
  [GATE_IMAGE]: 'sandbox/image/build-gate.sh',
};

/** Whether nightshift ships the recipe that builds `image`. */
export function hasRecipe(image: string): boolean {
  return Object.hasOwn(IMAGE_RECIPES, image);
}

/** The message of an `image_missing` error: what is missing and how to get it, since nothing is pulled. */
export function imageMissingMessage(image: string): string {
  const recipe = IMAGE_RECIPES[image];
  if (recipe !== undefined) {
    return `sandbox image ${image} is not in the Docker engine; build it with \`${recipe}\` (as root, from the nightshift checkout)`;
  }
  return (
    `sandbox image ${image} is not in the Docker engine, and nightshift ships no recipe for it: ` +
    `build or load it yourself (docker build / docker import / docker load) and tag it ${image}, ` +
    `or name another image in the repository's .nightshift.yml; images are never pulled`
  );
}
