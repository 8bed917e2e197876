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
# Idempotent: the label holds a hash of this file and lib.sh; when the image already carries it the script does
# nothing (under a second). `--force` rebuilds. Needs root (debootstrap), debootstrap and a Docker
# engine (scripts/dockerd). Usage: sandbox/image/build-gate.sh [--force]
set -eu

IMAGE=nightshift-sandbox-gate:1
SUITE=bookworm
VARIANT=minbase
INCLUDE=iptables
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "nightshift gate image: $*" >&2; }
. "$(dirname -- "$0")/lib.sh"

require_builder
recipe=$(recipe_hash </dev/null)
skip_if_current "$recipe"
debootstrap_base

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
drop_previous
say "built $IMAGE in $(($(now) - started))s"
