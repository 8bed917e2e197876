# Shared by the image recipes (build.sh, build-python.sh, build-gate.sh): sourced, not run. The recipe
# sets IMAGE, SUITE, VARIANT, INCLUDE, MIRROR and a `say` function (the sandbox images also SANDBOX_UID
# and EXTRA_CA_DIR), then calls these in order. A recipe's hash covers this file too (recipe_hash), so a
# change here rebuilds every image once.

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$here/../.." && pwd)
cache=${NIGHTSHIFT_CACHE_DIR:-$root/.nightshift/cache}/sandbox-image
force=0
[ "${1:-}" = "--force" ] && force=1

fail() { say "$*"; exit 1; }
now() { date +%s; }
started=$(now)

# Root for debootstrap, a docker CLI, an engine that answers.
require_builder() {
  [ "$(id -u)" = 0 ] || fail "must run as root (debootstrap needs it)"
  command -v docker >/dev/null 2>&1 || fail "the docker CLI is missing (apt-get install docker.io)"
  timeout 10 docker info >/dev/null 2>&1 || fail "no Docker engine answers; start one with scripts/dockerd"
}

# The hash of the recipe ($0), this file and whatever else is given on stdin.
recipe_hash() {
  { cat "$0" "$here/lib.sh"; cat; } | sha256sum | cut -c1-16
}

# Exits when $IMAGE already carries recipe $1 (unless --force); sets `previous` to the image's id.
skip_if_current() {
  current=$(docker image inspect --format '{{ index .Config.Labels "nightshift.recipe" }}' "$IMAGE" 2>/dev/null || true)
  previous=$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
  if [ "$force" = 0 ] && [ "$current" = "$1" ]; then
    say "$IMAGE is up to date (recipe $1)"
    exit 0
  fi
}

# Sets `base` to a finished debootstrap tree of $SUITE/$VARIANT/$INCLUDE, made once and cached.
debootstrap_base() {
  mkdir -p "$cache"
  base_key=$(echo "$SUITE $VARIANT $INCLUDE $MIRROR" | sha256sum | cut -c1-12)
  base=$cache/$SUITE-$VARIANT-$base_key
  if [ -f "$base/.nightshift-complete" ]; then
    say "reusing the debootstrap tree $base"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || fail "debootstrap is missing (apt-get install debootstrap)"
  say "debootstrap $SUITE ($VARIANT, +$INCLUDE) into $base"
  rm -rf "$base" "$base.tmp"
  log=$cache/debootstrap-$base_key.log
  t=$(now)
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$base.tmp" "$MIRROR" >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; fail "debootstrap failed (full log: $log)"; }
  rm -rf "$base.tmp"/var/cache/apt/archives/*.deb "$base.tmp"/var/lib/apt/lists/* "$base.tmp"/var/log/*.log
  touch "$base.tmp/.nightshift-complete"
  mv "$base.tmp" "$base"
  say "debootstrap took $(($(now) - t))s"
}

# Sets `extra_cas` to the certificate authorities this host trusts beyond Debian's, one path a line,
# sorted: the *.crt files of $EXTRA_CA_DIR (none when it is empty or missing). Certificates only.
find_extra_cas() {
  extra_cas=""
  if [ -n "$EXTRA_CA_DIR" ] && [ -d "$EXTRA_CA_DIR" ]; then
    extra_cas=$(find "$EXTRA_CA_DIR" -maxdepth 1 -type f -name '*.crt' | sort)
  fi
}

# The contents of `extra_cas`, for recipe_hash: a changed or added CA rebuilds the image.
cat_extra_cas() {
  for ca in $extra_cas; do cat "$ca"; done
}

# Sets `stage` to a fresh copy of `base`, removed when the script exits.
stage_base() {
  stage=$cache/stage.$$
  trap 'rm -rf "$stage"' EXIT INT TERM
  cp -a "$base" "$stage"
  rm -f "$stage/.nightshift-complete"
}

# Copies `extra_cas` into the tree $1 and regenerates its CA bundle (/etc/ssl/certs), so that a setup
# step with network reaches package registries wherever the host does (e.g. behind a TLS-inspecting
# proxy). Refuses a file that holds a private key.
install_extra_cas() {
  if [ -n "$extra_cas" ]; then
    for ca in $extra_cas; do
      grep -q 'PRIVATE KEY' "$ca" && fail "$ca holds a private key; refusing to copy it into the image"
      install -m 0644 "$ca" "$1/usr/local/share/ca-certificates/"
    done
    chroot "$1" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates failed in the image"
    say "trusting $(echo "$extra_cas" | wc -l) extra CA certificate(s) from $EXTRA_CA_DIR"
  fi
}

# Gives the tree $1 the unprivileged user and group `sandbox` ($SANDBOX_UID, home /tmp), an empty
# /workspace and a world-writable sticky /tmp.
add_sandbox_user() {
  grep -q "^sandbox:" "$1/etc/group" || echo "sandbox:x:$SANDBOX_UID:" >>"$1/etc/group"
  grep -q "^sandbox:" "$1/etc/passwd" \
    || echo "sandbox:x:$SANDBOX_UID:$SANDBOX_UID:nightshift sandbox:/tmp:/bin/sh" >>"$1/etc/passwd"
  mkdir -p "$1/workspace"
  chmod 0755 "$1/workspace"
  chmod 1777 "$1/tmp"
}

# Removes the image $IMAGE replaced (`previous`), unless a container still uses it.
drop_previous() {
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{ .Id }}' "$IMAGE")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || say "the previous image $previous is still in use; left in place"
  fi
}
