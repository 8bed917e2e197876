#!/bin/sh
# Builds nightshift's sandbox image for Go repositories from local files: no registry is needed
# (nothing can be pulled on the machines nightshift is built on).
#
#   nightshift-sandbox-go:1.19 (the default): Debian bookworm's Go, golang-1.19-go (1.19.x, the only Go
#   Debian ships there), installed by debootstrap --variant=minbase with git and ca-certificates
#   (about 90 s cold, 50 s with the tree cached). The finished tree is cached under $NIGHTSHIFT_CACHE_DIR (default
#   .nightshift/cache) and reused by later builds.
#
#   A newer Go: NIGHTSHIFT_GO_TARBALL=/path/to/go1.23.4.linux-amd64.tar.gz (a Go release from
#   https://go.dev/dl/ that you have) installs that Go into /usr/local/go instead of Debian's, and the
#   image is tagged with its version: nightshift-sandbox-go:1.23.4. A repository whose go.mod needs it
#   names it with `image: nightshift-sandbox-go:1.23.4` in .nightshift.yml; nightshift refuses such a
#   go.mod on the default image before anything runs, saying so.
#
# Both: `go` and `gofmt` in /usr/local/bin, the unprivileged user `sandbox` (uid/gid 10001), the
# extra certificate authorities this host trusts ($NIGHTSHIFT_EXTRA_CA_DIR, as in build.sh), and
# CGO_ENABLED=0 (the image has no C compiler; a repository that needs cgo names its own image). The
# image carries labels nightshift.recipe and nightshift.go (the Go version). A smoke run as the
# non-root user, with no network and a read-only root: go version, gofmt, and `go test` of a tiny
# module with GOCACHE=/tmp/go-build, GOFLAGS=-modcacherw, GOTOOLCHAIN=local.
#
# Idempotent: the label holds a hash of this file, lib.sh, the extra CAs and the tarball; when the
# image already carries the same hash the script does nothing (under a second). `--force` rebuilds.
# Needs root (debootstrap), debootstrap (apt-get install debootstrap) and a Docker engine
# (scripts/dockerd). Usage: [NIGHTSHIFT_GO_TARBALL=…] sandbox/image/build-go.sh [--force]
set -eu

DEBIAN_GO_SERIES=1.19
SUITE=bookworm
VARIANT=minbase
SANDBOX_UID=10001
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${NIGHTSHIFT_EXTRA_CA_DIR-/usr/local/share/ca-certificates}
TARBALL=${NIGHTSHIFT_GO_TARBALL:-}

say() { echo "nightshift go image: $*" >&2; }
. "$(dirname -- "$0")/lib.sh"

if [ -n "$TARBALL" ]; then
  [ -f "$TARBALL" ] || fail "NIGHTSHIFT_GO_TARBALL=$TARBALL is not a file"
  # The release's VERSION file, first line: go1.23.4.
  tar_version=$(tar -xzOf "$TARBALL" go/VERSION 2>/dev/null | head -n 1) \
    || fail "$TARBALL is not a Go release (no go/VERSION in it); use a go1.x.y.linux-amd64.tar.gz from https://go.dev/dl/"
  case "$tar_version" in
    go[0-9]*.[0-9]*) go_version=${tar_version#go} ;;
    *) fail "$TARBALL has an unexpected go/VERSION: $tar_version" ;;
  esac
  IMAGE=nightshift-sandbox-go:$go_version
  INCLUDE=ca-certificates,git
  tarball_hash=$(sha256sum "$TARBALL" | cut -c1-64)
else
  IMAGE=nightshift-sandbox-go:$DEBIAN_GO_SERIES
  INCLUDE=ca-certificates,git,golang-$DEBIAN_GO_SERIES-go
  tarball_hash=debian
fi

require_builder
find_extra_cas
recipe=$( { echo "go=$tarball_hash"; cat_extra_cas; } | recipe_hash)
skip_if_current "$recipe"
debootstrap_base

stage_base
install_extra_cas "$stage"
add_sandbox_user "$stage"

if [ -n "$TARBALL" ]; then
  rm -rf "$stage/usr/local/go"
  tar -C "$stage/usr/local" -xzf "$TARBALL" || fail "could not unpack $TARBALL"
  goroot=/usr/local/go
else
  goroot=/usr/lib/go-$DEBIAN_GO_SERIES
fi
[ -x "$stage$goroot/bin/go" ] || fail "no go in $goroot of the image tree"
ln -sf "$goroot/bin/go" "$stage/usr/local/bin/go"
ln -sf "$goroot/bin/gofmt" "$stage/usr/local/bin/gofmt"

if [ -n "$TARBALL" ]; then
  version=$go_version
else
  # Debian's version of the package, without its revision: 1.19.8-2 → 1.19.8.
  version=$(chroot "$stage" dpkg-query -W -f '${Version}' "golang-$DEBIAN_GO_SERIES-go") || fail "golang-$DEBIAN_GO_SERIES-go is not installed in the tree"
  version=${version%%-*}
  version=${version#*:}
  case "$version" in
    "$DEBIAN_GO_SERIES".*) ;;
    *) fail "the tree has Go $version, expected $DEBIAN_GO_SERIES.x" ;;
  esac
fi

say "importing $IMAGE (Go $version, recipe $recipe)"
tar --numeric-owner -C "$stage" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
  --change 'ENV HOME=/tmp' \
  --change 'ENV GOCACHE=/tmp/go-build' \
  --change 'ENV GOTOOLCHAIN=local' \
  --change 'ENV CGO_ENABLED=0' \
  --change "USER $SANDBOX_UID:$SANDBOX_UID" \
  --change 'WORKDIR /workspace' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  --change "LABEL nightshift.go=$version" \
  - "$IMAGE" >/dev/null

# One line per check, in order; any failure stops the run (set -e) and shows in the output. /tmp is
# executable, as in the sandbox: go test runs the test binaries it builds there.
smoke=$(docker run --rm --network none --read-only --tmpfs /tmp:rw,exec,nosuid,nodev,mode=1777 --cap-drop ALL \
  --security-opt no-new-privileges \
  -e GOCACHE=/tmp/go-build -e GOFLAGS=-modcacherw -e GOTOOLCHAIN=local -e GOMODCACHE=/tmp/go-mod \
  "$IMAGE" \
  sh -ec '
    echo "uid=$(id -u)"
    echo "go=$(go version)"
    echo "git=$(git --version)"
    mkdir -p /tmp/m/calc
    cd /tmp/m
    printf "module example.com/m\n\ngo 1.19\n" >go.mod
    printf "package calc\n\nfunc Add(a, b int) int { return a + b }\n" >calc/calc.go
    printf "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal(\"2+3\")\n\t}\n}\n" >calc/calc_test.go
    echo "gofmt=[$(gofmt -l .)]"
    go test ./... | sed "s/^/test=/"
  ' 2>&1) || fail "the smoke run of $IMAGE failed: $smoke"
for want in "uid=$SANDBOX_UID" "go=go version go$version linux/" "git=git version" "gofmt=[]" "test=ok  	example.com/m/calc"; do
  echo "$smoke" | grep -qF "$want" || fail "unexpected smoke run output from $IMAGE (no \"$want\"): $smoke"
done
drop_previous
say "built $IMAGE in $(($(now) - started))s: Go $version"
echo "$IMAGE"
