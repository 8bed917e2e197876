#!/bin/sh
# Builds nightshift's sandbox image for Python repositories from local files: no registry is needed
# (nothing can be pulled on the machines nightshift is built on).
#
#   nightshift-sandbox-python:3.11 (the default): debootstrap --variant=minbase bookworm from Debian's
#   mirror with Debian's Python 3.11 and the tools a repository's setup and tests need offline: venv
#   (with pip's and setuptools' wheels for ensurepip), pip, pytest, setuptools and wheel (so that a
#   pure-Python project installs with `pip install --no-build-isolation` when PyPI is out of reach),
#   python-is-python3 (`python` is python3), git and ca-certificates (about 60-90 s cold). The finished
#   tree is cached under $NIGHTSHIFT_CACHE_DIR (default .nightshift/cache) and reused by later builds.
#
#   Another Python: NIGHTSHIFT_PYTHON_TARBALL=/path/to/cpython-3.12.8+20250106-x86_64-unknown-linux-gnu-install_only.tar.gz
#   (a python-build-standalone "install_only" release you have, from
#   https://github.com/astral-sh/python-build-standalone/releases: a `python/` directory with
#   bin/python3) installs that Python into /usr/local/python instead of Debian's, its bin directory
#   first on PATH (the tree then has only git and ca-certificates from Debian), and the image is
#   tagged with its major.minor version: nightshift-sandbox-python:3.12. A repository whose pyproject.toml `requires-python` needs it names
#   it with `image: nightshift-sandbox-python:3.12` in .nightshift.yml; nightshift refuses such a
#   pyproject.toml on the default image before anything runs, saying so. A 3.11 tarball is refused:
#   that tag is the default image's. Such a Python usually brings pip but not pytest, setuptools or
#   wheel (Debian's python3-pytest is for Debian's Python only): the setup step installs pytest from
#   PyPI when the venv cannot import it, which needs PyPI from the sandbox (setup_network: bridge, the
#   default). To have them offline, add them to the tarball before building: unpack it, run
#   `python/bin/python3 -m pip install pytest setuptools wheel`, and pack `python/` again. The build
#   says which of them the image has.
#
# Both: python3 and python (and the tarball's pip) on PATH, the unprivileged user `sandbox`
# (uid/gid 10001), the extra certificate authorities this host trusts ($NIGHTSHIFT_EXTRA_CA_DIR,
# default /usr/local/share/ca-certificates, as in build.sh; certificates only, never keys). tar |
# docker import sets the image's PATH, HOME, user and the labels nightshift.recipe and
# nightshift.python (the full Python version). A smoke run as the non-root user, with no network and a
# read-only root: python and python3 are the expected version, `python3 -m venv
# --system-site-packages` makes a venv in /tmp whose pip works, git answers; with Debian's Python,
# pytest answers and the venv sees pytest, setuptools and wheel.
#
# Idempotent: the label holds a hash of this file, lib.sh, the extra CAs and the tarball; when the
# image already carries the same hash the script does nothing (under a second). `--force` rebuilds.
# Needs root (debootstrap), debootstrap (apt-get install debootstrap) and a Docker engine
# (scripts/dockerd). Usage: [NIGHTSHIFT_PYTHON_TARBALL=…] sandbox/image/build-python.sh [--force]
set -eu

DEBIAN_PYTHON_SERIES=3.11
SUITE=bookworm
VARIANT=minbase
SANDBOX_UID=10001
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${NIGHTSHIFT_EXTRA_CA_DIR-/usr/local/share/ca-certificates}
TARBALL=${NIGHTSHIFT_PYTHON_TARBALL:-}
PYTHON_HOME=/usr/local/python

say() { echo "nightshift python image: $*" >&2; }
. "$(dirname -- "$0")/lib.sh"

if [ -n "$TARBALL" ]; then
  [ -f "$TARBALL" ] || fail "NIGHTSHIFT_PYTHON_TARBALL=$TARBALL is not a file"
  # install_only's layout: python/bin/python3 and python/bin/python3.12 (the version, major.minor).
  listing=$(tar -tf "$TARBALL" 2>/dev/null) \
    || fail "$TARBALL is not a tar archive; use a python-build-standalone cpython-3.x.y+…-install_only.tar.gz"
  series=$(echo "$listing" | sed -n 's|^\(\./\)\{0,1\}python/bin/python\([0-9][0-9]*\.[0-9][0-9]*\)$|\2|p' | head -n 1)
  [ -n "$series" ] && echo "$listing" | grep -Eq '^(\./)?python/bin/python3$' \
    || fail "$TARBALL is not a python-build-standalone \"install_only\" release (no python/bin/python3 and python/bin/python3.X in it)"
  [ "$series" != "$DEBIAN_PYTHON_SERIES" ] \
    || fail "$TARBALL is Python $series, the default image's series: nightshift-sandbox-python:$DEBIAN_PYTHON_SERIES is Debian's Python $DEBIAN_PYTHON_SERIES; build it without NIGHTSHIFT_PYTHON_TARBALL"
  IMAGE=nightshift-sandbox-python:$series
  INCLUDE=ca-certificates,git
  tarball_hash=$(sha256sum "$TARBALL" | cut -c1-64)
else
  series=$DEBIAN_PYTHON_SERIES
  IMAGE=nightshift-sandbox-python:$DEBIAN_PYTHON_SERIES
  INCLUDE=ca-certificates,git,python3,python3-venv,python3-pip,python3-pytest,python3-setuptools,python3-wheel,python-is-python3
  tarball_hash=debian
fi

require_builder
find_extra_cas
recipe=$( { echo "python=$tarball_hash"; cat_extra_cas; } | recipe_hash)
skip_if_current "$recipe"
debootstrap_base

stage_base
install_extra_cas "$stage"
add_sandbox_user "$stage"

if [ -n "$TARBALL" ]; then
  rm -rf "$stage$PYTHON_HOME" "$stage/usr/local/python.tmp"
  mkdir -p "$stage/usr/local/python.tmp"
  tar -C "$stage/usr/local/python.tmp" -xf "$TARBALL" || fail "could not unpack $TARBALL"
  mv "$stage/usr/local/python.tmp/python" "$stage$PYTHON_HOME" || fail "no python/ directory in $TARBALL"
  rm -rf "$stage/usr/local/python.tmp"
  [ -x "$stage$PYTHON_HOME/bin/python3" ] || fail "no python3 in $PYTHON_HOME/bin of the image tree"
  # Its bin directory comes first on the image's PATH, with `python` next to python3. Not links in
  # /usr/local/bin: a venv made through such a link records that directory as its home, and its
  # python then finds no standard library (seen with a CPython 3.13 install tree).
  [ -e "$stage$PYTHON_HOME/bin/python" ] || ln -s python3 "$stage$PYTHON_HOME/bin/python"
  python=$PYTHON_HOME/bin/python3
  path=$PYTHON_HOME/bin:/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin
else
  python=/usr/bin/python3
  path=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin
fi

python_version=$(chroot "$stage" "$python" -c 'import platform; print(platform.python_version())') \
  || fail "$python does not run in the image tree (a tarball for another architecture or C library?)"
case "$python_version" in
  "$series".*) ;;
  *) fail "the tree has Python $python_version, expected $series.x" ;;
esac

say "importing $IMAGE (Python $python_version, recipe $recipe)"
tar --numeric-owner -C "$stage" -c . | docker import \
  --change "ENV PATH=$path" \
  --change 'ENV HOME=/tmp' \
  --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change "USER $SANDBOX_UID:$SANDBOX_UID" \
  --change 'WORKDIR /workspace' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  --change "LABEL nightshift.python=$python_version" \
  - "$IMAGE" >/dev/null

# One line per check, in order; any failure stops the run (set -e) and shows in the output. pytest,
# setuptools and wheel are reported, not required: a tarball's Python may lack them (checked below for
# Debian's).
smoke=$(docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges "$IMAGE" \
  sh -ec '
    echo "uid=$(id -u)"
    echo "python3=$(python3 --version 2>&1)"
    echo "python=$(python --version 2>&1)"
    echo "pytest=$(python3 -c "import pytest" 2>/dev/null && python3 -m pytest --version 2>&1 || echo none)"
    python3 -m venv --system-site-packages /tmp/venv
    echo "venv-pip=$(/tmp/venv/bin/python -m pip --version)"
    echo "venv-sees=$(/tmp/venv/bin/python -c "
import importlib.util
print(\" \".join(m for m in (\"pytest\", \"setuptools\", \"wheel\") if importlib.util.find_spec(m)) or \"none\")
")"
    echo "git=$(git --version)"
  ' 2>&1) || fail "the smoke run of $IMAGE failed: $smoke"
wants="uid=$SANDBOX_UID|python3=Python $python_version|python=Python $python_version|venv-pip=pip |git=git version"
if [ -z "$TARBALL" ]; then wants="$wants|pytest=pytest |venv-sees=pytest setuptools wheel"; fi
old_ifs=$IFS
IFS='|'
for want in $wants; do
  echo "$smoke" | grep -q "^$want" || fail "unexpected smoke run output from $IMAGE (no \"$want\"): $smoke"
done
IFS=$old_ifs
drop_previous
say "built $IMAGE in $(($(now) - started))s: $(echo "$smoke" | grep -E '^(python3|pytest|venv-sees|git)=' | tr '\n' ' ')"
if [ -n "$TARBALL" ] && ! echo "$smoke" | grep -q '^venv-sees=pytest'; then
  say "this Python has no pytest: the setup step installs it from PyPI (setup_network: bridge, the default); to have it offline, add pytest, setuptools and wheel to the tarball's Python first (see the top of this script)"
fi
echo "$IMAGE"
