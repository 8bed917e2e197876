#!/bin/sh
# Builds the NATS image of the Compose deployment, nightshift-nats:<major.minor> (nightshift-nats:2.9 with
# Debian 12's nats-server 2.9.10), from local files: no registry is needed.
#
#   1. A tree from scratch: this host's nats-server (Debian's package, which scripts/install installs),
#      bash for the health probe, the shared libraries both are linked with (as ldd resolves them here:
#      libc, libtinfo and the dynamic loader; about 10 MB in all), a `nats` user (uid/gid 10002), an empty
#      /data owned by it for JetStream, and /usr/local/bin/nats-healthz: GET /healthz on the monitoring
#      port (8222 unless given), with bash's /dev/tcp, exit 0 on HTTP 200.
#   2. tar | docker import: entrypoint nats-server, user nats, working directory /data, a
#      `nightshift.recipe` label.
#   3. A smoke run: nats-server --version as uid 10002 with no network and a read-only root.
#
# Idempotent: the label holds a hash of this file, lib.sh and the two binaries; when the image already
# carries it the script does nothing (under a second). `--force` rebuilds. Needs nats-server
# (apt-get install nats-server) and a Docker engine (scripts/dockerd); not root.
# Usage: deploy/image/build-nats.sh [--force]
set -eu

NATS_UID=10002

say() { echo "nightshift NATS image: $*" >&2; }
. "$(dirname -- "$0")/../../sandbox/image/lib.sh"

nats_bin=$(command -v nats-server) || fail "nats-server is missing (apt-get install nats-server)"
bash_bin=$(command -v bash) || fail "bash is missing"
nats_version=$("$nats_bin" --version | sed -n 's/^nats-server: v\([0-9][0-9.]*\).*/\1/p')
[ -n "$nats_version" ] || fail "could not read the version of $nats_bin"
IMAGE=${NIGHTSHIFT_NATS_IMAGE:-nightshift-nats:$(echo "$nats_version" | cut -d. -f1,2)}

command -v docker >/dev/null 2>&1 || fail "the docker CLI is missing (apt-get install docker.io)"
timeout 10 docker info >/dev/null 2>&1 || fail "no Docker engine answers; start one with scripts/dockerd"

recipe=$( { cat "$0" "$root/sandbox/image/lib.sh" "$nats_bin" "$bash_bin"; } | sha256sum | cut -c1-16)
skip_if_current "$recipe"

stage=$(mktemp -d "${TMPDIR:-/tmp}/nightshift-nats-image.XXXXXX")
trap 'rm -rf "$stage" "$stage.tar"' EXIT INT TERM
chmod 0755 "$stage"

# Copies a file to the same path in the tree, following symbolic links (the tree gets the file itself).
copy_in() {
  mkdir -p "$stage$(dirname -- "$1")"
  cp -L "$1" "$stage$1"
}
# A binary at the same path and every library ldd resolves for it, the loader included.
copy_binary() {
  copy_in "$1"
  libs=$(ldd "$1" 2>/dev/null | tr ' \t' '\n\n' | grep '^/' || true)
  [ -n "$libs" ] || fail "ldd found no libraries for $1"
  for lib in $libs; do copy_in "$lib"; done
}
copy_binary "$nats_bin"
copy_binary "$bash_bin"
if [ "$nats_bin" != /usr/local/bin/nats-server ]; then
  mkdir -p "$stage/usr/local/bin"
  ln -s "$nats_bin" "$stage/usr/local/bin/nats-server"
fi

mkdir -p "$stage/etc" "$stage/data" "$stage/etc/nats" "$stage/tmp"
printf 'root:x:0:0:root:/root:/bin/false\nnats:x:%s:%s:nats-server:/data:/bin/false\n' "$NATS_UID" "$NATS_UID" >"$stage/etc/passwd"
printf 'root:x:0:\nnats:x:%s:\n' "$NATS_UID" >"$stage/etc/group"
chmod 1777 "$stage/tmp"
chmod 0750 "$stage/data"
cat >"$stage/usr/local/bin/nats-healthz" <<EOF
#!$bash_bin
# Exit 0 when nats-server's monitoring endpoint GET /healthz answers 200 (the server is up and, in a
# JetStream cluster, its meta group has a leader and its streams are current); 1 otherwise.
exec 3<>"/dev/tcp/127.0.0.1/\${1:-8222}" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
case \$status in
  "HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "nats-healthz: \$status" >&2
exit 1
EOF
chmod 0755 "$stage/usr/local/bin/nats-healthz"

say "importing $IMAGE (recipe $recipe): nats-server $nats_version"
# /data must belong to the nats user: a named volume mounted there takes its owner from the image.
tar --numeric-owner --owner=0 --group=0 -C "$stage" --exclude=./data -c . >"$stage.tar"
tar --numeric-owner --owner="nats:$NATS_UID" --group="nats:$NATS_UID" -C "$stage" --no-recursion -r -f "$stage.tar" ./data
docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "USER $NATS_UID:$NATS_UID" \
  --change 'WORKDIR /data' \
  --change 'EXPOSE 4222 6222 8222' \
  --change 'ENTRYPOINT ["nats-server"]' \
  --change 'CMD ["--help"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  --change "LABEL nightshift.nats=$nats_version" \
  "$stage.tar" "$IMAGE" >/dev/null
rm -f "$stage.tar"

smoke=$(docker run --rm --network none --read-only --cap-drop ALL --security-opt no-new-privileges \
  --entrypoint bash "$IMAGE" -c 'echo "uid=$UID $(nats-server --version)"; [ -x /usr/local/bin/nats-healthz ] && [ -O /data ] && echo ok') \
  || fail "the smoke run of $IMAGE failed"
case "$smoke" in
  "uid=$NATS_UID nats-server: v$nats_version
ok") ;;
  *) fail "unexpected smoke run output from $IMAGE: $smoke" ;;
esac
drop_previous
say "built $IMAGE in $(($(now) - started))s"
