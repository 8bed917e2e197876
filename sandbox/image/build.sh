#!/bin/sh
# Builds nightshift's default sandbox image, nightshift-sandbox-node:24, from local files: no registry
# is needed (nothing can be pulled on the machines nightshift is built on).
#
#   1. debootstrap --variant=minbase --include=ca-certificates,git bookworm from Debian's mirror
#      (about 60-80 s cold); the finished tree is cached under $NIGHTSHIFT_CACHE_DIR (default
#      .nightshift/cache) and reused by later builds.
#   2. A copy of that tree gets the Node.js 24 binary provisioned by scripts/node24, npm $NPM_VERSION
#      from the npm registry, the unprivileged user `sandbox` (uid/gid 10001), and the extra
#      certificate authorities this host trusts ($NIGHTSHIFT_EXTRA_CA_DIR, default
#      /usr/local/share/ca-certificates; e.g. a TLS-inspecting proxy's CA), so that a setup step with
#      network reaches package registries wherever the host does. Certificates only, never keys.
#   3. tar | docker import, setting the image's PATH, HOME, user and a `nightshift.recipe` label.
#   4. A smoke run: node, npm and git answer as the non-root user, with no network, read-only root.
#
# Idempotent: the label holds a hash of this file, lib.sh, the Node.js version and the extra CAs; when the
# image already carries the same hash the script does nothing (under a second). `--force` rebuilds.
# Needs root (debootstrap), debootstrap (apt-get install debootstrap) and a Docker engine
# (scripts/dockerd). Usage: sandbox/image/build.sh [--force]
set -eu

IMAGE=nightshift-sandbox-node:24
SUITE=bookworm
VARIANT=minbase
INCLUDE=ca-certificates,git
NPM_VERSION=11.19.1
SANDBOX_UID=10001
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${NIGHTSHIFT_EXTRA_CA_DIR-/usr/local/share/ca-certificates}

say() { echo "nightshift sandbox image: $*" >&2; }
. "$(dirname -- "$0")/lib.sh"

require_builder

node_bin=$("$root/scripts/node24" node -p 'process.execPath')
node_version=$("$node_bin" --version)
case "$node_version" in
  v24.*) ;;
  *) fail "scripts/node24 gave Node.js $node_version, expected v24.x" ;;
esac

find_extra_cas
recipe=$( { echo "node=$node_version"; cat_extra_cas; } | recipe_hash)
skip_if_current "$recipe"
debootstrap_base

stage_base

install -m 0755 "$node_bin" "$stage/usr/local/bin/node"
"$root/scripts/node24" npm install --global --prefix "$stage/usr/local" --no-audit --no-fund --silent \
  "npm@$NPM_VERSION" >&2

install_extra_cas "$stage"
add_sandbox_user "$stage"

say "importing $IMAGE (recipe $recipe)"
tar --numeric-owner -C "$stage" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
  --change 'ENV HOME=/tmp' \
  --change 'ENV NPM_CONFIG_UPDATE_NOTIFIER=false' \
  --change 'ENV NPM_CONFIG_FUND=false' \
  --change 'ENV NPM_CONFIG_AUDIT=false' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "USER $SANDBOX_UID:$SANDBOX_UID" \
  --change 'WORKDIR /workspace' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  --change "LABEL nightshift.node=$node_version" \
  - "$IMAGE" >/dev/null

smoke=$(docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges "$IMAGE" \
  sh -c 'echo "uid=$(id -u) node=$(node --version) npm=$(npm --version) $(git --version)"') \
  || fail "the smoke run of $IMAGE failed"
case "$smoke" in
  "uid=$SANDBOX_UID node=$node_version npm=$NPM_VERSION git version"*) ;;
  *) fail "unexpected smoke run output from $IMAGE: $smoke" ;;
esac
drop_previous
say "built $IMAGE in $(($(now) - started))s: $smoke"
