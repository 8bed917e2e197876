#!/bin/sh
# Builds the nightshift container image, nightshift:<version of package.json> (nightshift:0.1.0), from
# local files: no registry is pulled from (nothing can be pulled on the machines nightshift is built on).
#
#   1. Production dependencies: `npm ci --omit=dev --ignore-scripts` into a cache directory keyed by
#      package.json, package-lock.json and the Node.js version (about 30 s once, from the npm
#      registry; reused after). --ignore-scripts: no install script runs on this host, and none is
#      needed (ssh2 and cpu-features only build optional native speed-ups; protobufjs's checks a version).
#   2. A staging directory: app/ with bin/, agents/, bus/, cli/, gateways/, sandbox/, shared/ (without their
#      *.test.ts), examples/, package.json and package-lock.json; node_modules/ hard-linked from the cache.
#   3. `docker build` of deploy/image/Dockerfile on that directory: FROM the local sandbox image
#      nightshift-sandbox-node:24 (Debian bookworm minbase, ca-certificates, git, Node.js 24; built by
#      sandbox/image/build.sh), the application in /app, run as the unprivileged user `nightshift`
#      (uid/gid 10001), entrypoint `node /app/bin/nightshift.mjs` (Node.js 24 runs the TypeScript
#      directly), with a `nightshift.recipe` label.
#   4. A smoke run: `nightshift --help` as uid 10001 with no network and a read-only root.
#
# Idempotent: the label holds a hash of this file, lib.sh, the Dockerfile, the base image's id, the
# dependency key and every staged source file; when the image already carries it the script does
# nothing but the staging (a few seconds). `--force` rebuilds. Needs a Docker engine (scripts/dockerd)
# and the sandbox image (sandbox/image/build.sh, run by scripts/install); not root.
# Usage: deploy/image/build.sh [--force]
set -eu

BASE=nightshift-sandbox-node:24
APP_DIRS="bin agents bus cli gateways sandbox shared"

say() { echo "nightshift image: $*" >&2; }
. "$(dirname -- "$0")/../../sandbox/image/lib.sh"

version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "$root/package.json")
[ -n "$version" ] || fail "no version in $root/package.json"
IMAGE=${NIGHTSHIFT_IMAGE:-nightshift:$version}

command -v docker >/dev/null 2>&1 || fail "the docker CLI is missing (apt-get install docker.io)"
timeout 10 docker info >/dev/null 2>&1 || fail "no Docker engine answers; start one with scripts/dockerd"
base_id=$(docker image inspect --format '{{ .Id }}' "$BASE" 2>/dev/null) \
  || fail "the base image $BASE is missing; build it with sandbox/image/build.sh (scripts/install does)"

node_bin=$("$root/scripts/node24" node -p 'process.execPath')
node_version=$("$node_bin" --version)
work=${NIGHTSHIFT_CACHE_DIR:-$root/.nightshift/cache}/nightshift-image
mkdir -p "$work"

# 1. Production dependencies, installed once per lock file.
deps_key=$( { echo "node=$node_version"; cat "$root/package.json" "$root/package-lock.json"; } | sha256sum | cut -c1-16)
deps=$work/deps-$deps_key
if [ ! -f "$deps/.nightshift-complete" ]; then
  say "installing production dependencies into $deps"
  rm -rf "$deps" "$deps.tmp"
  mkdir -p "$deps.tmp"
  cp "$root/package.json" "$root/package-lock.json" "$deps.tmp/"
  t=$(now)
  (cd "$deps.tmp" && "$root/scripts/node24" npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
    || fail "npm ci --omit=dev failed in $deps.tmp"
  touch "$deps.tmp/.nightshift-complete"
  mv "$deps.tmp" "$deps"
  say "dependencies installed in $(($(now) - t))s"
fi

# 2. The staging directory: the build context.
stage=$work/stage.$$
trap 'rm -rf "$stage"' EXIT INT TERM
mkdir -p "$stage/app"
(cd "$root" && tar -c --exclude='*.test.ts' $APP_DIRS && tar -c examples package.json package-lock.json) \
  | tar -x -i -C "$stage/app"
cp -al "$deps/node_modules" "$stage/node_modules" 2>/dev/null || cp -a "$deps/node_modules" "$stage/node_modules"

recipe=$( {
  cat "$0" "$root/sandbox/image/lib.sh" "$here/Dockerfile"
  echo "base=$base_id deps=$deps_key"
  (cd "$stage/app" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
} | sha256sum | cut -c1-16)
skip_if_current "$recipe"

# 3. The image.
say "building $IMAGE (recipe $recipe) on $BASE"
t=$(now)
cp "$here/Dockerfile" "$stage/Dockerfile"
DOCKER_BUILDKIT=0 docker build --quiet --network none \
  --label "nightshift.recipe=$recipe" --label "nightshift.version=$version" --label "nightshift.node=$node_version" \
  --tag "$IMAGE" "$stage" >/dev/null \
  || fail "docker build of $IMAGE failed"
say "docker build took $(($(now) - t))s"

# 4. The smoke run.
smoke=$(docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  --entrypoint sh "$IMAGE" -c 'echo "uid=$(id -u) user=$(id -un) node=$(node --version)"; node /app/bin/nightshift.mjs --help | head -n 1') \
  || fail "the smoke run of $IMAGE failed"
case "$smoke" in
  "uid=10001 user=nightshift node=$node_version
nightshift — background agents for software delivery") ;;
  *) fail "unexpected smoke run output from $IMAGE: $smoke" ;;
esac
drop_previous
say "built $IMAGE in $(($(now) - started))s"
