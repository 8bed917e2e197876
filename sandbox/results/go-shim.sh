#!/bin/sh
# nightshift's per-test results for Go, inside the sandbox: first on PATH during a test run, this
# `go` adds -json to `go test` (its test2json events go to stdout, read on the host after the run)
# and runs every other go command as written. GOFLAGS=-json would reach every command that knows
# -json: `go vet` then prints its findings as JSON and exits 0, `go list` prints JSON.
self=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
# The real go: the first on PATH without this directory; go and what it starts never see the shim.
path=
IFS=:
for d in $PATH; do
  [ "$d" = "$self" ] || path=${path:+$path:}$d
done
unset IFS
PATH=$path
export PATH
real=$(command -v go) || { echo "nightshift: no go on PATH" >&2; exit 127; }
if [ "${1-}" = "-C" ] && [ $# -ge 3 ] && [ "$3" = "test" ]; then
  dir=$2
  shift 3
  exec "$real" -C "$dir" test -json "$@"
fi
if [ "${1-}" = "test" ]; then
  shift
  exec "$real" test -json "$@"
fi
exec "$real" "$@"
