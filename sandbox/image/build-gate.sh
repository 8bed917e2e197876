#!/bin/sh
# Builds nightshift's egress gate image, nightshift-sandbox-gate:1, from local files: no registry is
# needed. The gate is the trusted container whose network namespace a dependency-setup run joins; it
# holds the egress rules (sandbox/gate/rules.ts) and nothing else, so all it needs is a shell,
# iptables and sleep.
#
#   1. debootstrap --variant=minbase --include=iptables bookworm from Debian's mirror (about 60 s
#      cold); the finished tree is cached under $NIGHTSHIFT_CACHE_DIR (default .nightshift/cache).
#   2. tar | docker import, with a `nightshift.recipe` label.
#   3. A smoke run: iptables-restore answers with --network none and only CAP_NET_ADMIN.
#
# Idempotent: the label holds a hash of this file; when the image already carries it the script does
# nothing (under a second). `--force` rebuilds. Needs root (debootstrap), debootstrap and a Docker
# engine (scripts/dockerd). Usage: sandbox/image/build-gate.sh [--force]
set -eu

IMAGE=nightshift-sandbox-gate:1
SUITE=bookworm
VARIANT=minbase
INCLUDE=iptables
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$here/../.." && pwd)
cache=${NIGHTSHIFT_CACHE_DIR:-$root/.nightshift/cache}/sandbox-image
force=0
[ "${1:-}" = "--force" ] && force=1

say() { echo "nightshift gate image: $*" >&2; }
fail() { say "$*"; exit 1; }
now() { date +%s; }
started=$(now)

[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap needs it)"
command -v docker >/dev/null 2>&1 || fail "the docker CLI is missing (apt-get install docker.io)"
timeout 10 docker info >/dev/null 2>&1 || fail "no Docker engine answers; start one with scripts/dockerd"

recipe=$(sha256sum <"$0" | cut -c1-16)
current=$(docker image inspect --format '{{ index .Config.Labels "nightshift.recipe" }}' "$IMAGE" 2>/dev/null || true)
previous=$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
if [ "$force" = 0 ] && [ "$current" = "$recipe" ]; then
  say "$IMAGE is up to date (recipe $recipe)"
  exit 0
fi

mkdir -p "$cache"
base_key=$(echo "$SUITE $VARIANT $INCLUDE $MIRROR" | sha256sum | cut -c1-12)
base=$cache/$SUITE-$VARIANT-$base_key
if [ ! -f "$base/.nightshift-complete" ]; then
  command -v debootstrap >/dev/null 2>&1 || fail "debootstrap is missing (apt-get install debootstrap)"
  say "debootstrap $SUITE ($VARIANT, +$INCLUDE) into $base"
  rm -rf "$base" "$base.tmp"
  t=$(now)
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$base.tmp" "$MIRROR" >"$cache/debootstrap-gate.log" 2>&1 \
    || { tail -n 30 "$cache/debootstrap-gate.log" >&2; fail "debootstrap failed (full log: $cache/debootstrap-gate.log)"; }
  rm -rf "$base.tmp"/var/cache/apt/archives/*.deb "$base.tmp"/var/lib/apt/lists/* "$base.tmp"/var/log/*.log
  touch "$base.tmp/.nightshift-complete"
  mv "$base.tmp" "$base"
  say "debootstrap took $(($(now) - t))s"
else
  say "reusing the debootstrap tree $base"
fi

say "importing $IMAGE (recipe $recipe)"
tar --numeric-owner -C "$base" --exclude=./.nightshift-complete -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  - "$IMAGE" >/dev/null

smoke=$(docker run --rm --network none --read-only --tmpfs /run --cap-drop ALL --cap-add NET_ADMIN \
  --security-opt no-new-privileges "$IMAGE" \
  sh -c 'printf "*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n" | iptables-restore && iptables -S OUTPUT | head -n 1') \
  || fail "the smoke run of $IMAGE failed"
[ "$smoke" = "-P OUTPUT DROP" ] || fail "unexpected smoke run output from $IMAGE: $smoke"
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{ .Id }}' "$IMAGE")" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || say "the previous image $previous is still in use; left in place"
fi
say "built $IMAGE in $(($(now) - started))s"
