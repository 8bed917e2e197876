#!/bin/sh
# Builds nightshift's sandbox image for Python repositories, nightshift-sandbox-python:3.11, from local
# files: no registry is needed (nothing can be pulled on the machines nightshift is built on).
#
#   1. debootstrap --variant=minbase bookworm from Debian's mirror with Debian's Python 3.11 and the
#      tools a repository's setup and tests need offline: venv (with pip's and setuptools' wheels for
#      ensurepip), pip, pytest, setuptools and wheel (so that a pure-Python project installs with
#      `pip install --no-build-isolation` when PyPI is out of reach), python-is-python3 (`python`
#      is python3), git and ca-certificates (about 60-90 s cold). The finished tree is cached under
#      $NIGHTSHIFT_CACHE_DIR (default .nightshift/cache) and reused by later builds.
#   2. A copy of that tree gets the unprivileged user `sandbox` (uid/gid 10001) and the extra
#      certificate authorities this host trusts ($NIGHTSHIFT_EXTRA_CA_DIR, default
#      /usr/local/share/ca-certificates), as in build.sh. Certificates only, never keys.
#   3. tar | docker import, setting the image's PATH, HOME, user and a `nightshift.recipe` label.
#   4. A smoke run as the non-root user, with no network and a read-only root: python and python3 are
#      3.11, pytest answers, `python3 -m venv --system-site-packages` makes a venv in /tmp whose pip
#      works and which sees pytest, setuptools and wheel; git answers.
#
# Idempotent: the label holds a hash of this file, lib.sh and the extra CAs; when the image already
# carries the same hash the script does nothing (under a second). `--force` rebuilds. Needs root
# (debootstrap), debootstrap (apt-get install debootstrap) and a Docker engine (scripts/dockerd).
# Usage: sandbox/image/build-python.sh [--force]
set -eu

IMAGE=nightshift-sandbox-python:3.11
PYTHON_SERIES=3.11
SUITE=bookworm
VARIANT=minbase
INCLUDE=ca-certificates,git,python3,python3-venv,python3-pip,python3-pytest,python3-setuptools,python3-wheel,python-is-python3
SANDBOX_UID=10001
MIRROR=${NIGHTSHIFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${NIGHTSHIFT_EXTRA_CA_DIR-/usr/local/share/ca-certificates}

say() { echo "nightshift python image: $*" >&2; }
. "$(dirname -- "$0")/lib.sh"

require_builder
find_extra_cas
recipe=$(cat_extra_cas | recipe_hash)
skip_if_current "$recipe"
debootstrap_base

stage_base
install_extra_cas "$stage"
add_sandbox_user "$stage"

python_version=$(chroot "$stage" python3 -c 'import platform; print(platform.python_version())') \
  || fail "python3 does not run in the debootstrap tree"
case "$python_version" in
  "$PYTHON_SERIES".*) ;;
  *) fail "the tree has Python $python_version, expected $PYTHON_SERIES.x" ;;
esac

say "importing $IMAGE (recipe $recipe)"
tar --numeric-owner -C "$stage" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
  --change 'ENV HOME=/tmp' \
  --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change "USER $SANDBOX_UID:$SANDBOX_UID" \
  --change 'WORKDIR /workspace' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL nightshift.recipe=$recipe" \
  --change "LABEL nightshift.python=$python_version" \
  - "$IMAGE" >/dev/null

# One line per check, in order; any failure stops the run (set -e) and shows in the output.
smoke=$(docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges "$IMAGE" \
  sh -ec '
    echo "uid=$(id -u)"
    echo "python3=$(python3 --version 2>&1)"
    echo "python=$(python --version 2>&1)"
    echo "pytest=$(python3 -m pytest --version 2>&1)"
    python3 -m venv --system-site-packages /tmp/venv
    echo "venv-pip=$(/tmp/venv/bin/python -m pip --version)"
    /tmp/venv/bin/python -c "import pytest, setuptools, wheel; print(\"venv-sees=pytest setuptools wheel\")"
    echo "git=$(git --version)"
  ' 2>&1) || fail "the smoke run of $IMAGE failed: $smoke"
for want in "uid=$SANDBOX_UID" "python3=Python $python_version" "python=Python $python_version" "pytest=pytest " \
  "venv-pip=pip " "venv-sees=pytest setuptools wheel" "git=git version"; do
  echo "$smoke" | grep -q "^$want" || fail "unexpected smoke run output from $IMAGE (no \"$want\"): $smoke"
done
drop_previous
say "built $IMAGE in $(($(now) - started))s: $(echo "$smoke" | grep -E '^(python3|pytest|git)=' | tr '\n' ' ')"
