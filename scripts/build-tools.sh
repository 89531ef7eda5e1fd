#!/usr/bin/env bash
# Builds the reference tools the interop tests compare against (cosign) into .cache/tools, from
# the Go module proxy. Test tooling only; a failed build is reported and the interop tests then
# skip with a note saying the binary is absent.
set -uo pipefail
cd "$(dirname "$0")/.."
COSIGN_VERSION=v2.4.1
dir="$PWD/.cache/tools"
mkdir -p "$dir/logs"
if [ -x "$dir/cosign" ] && "$dir/cosign" version 2>/dev/null | grep -q "${COSIGN_VERSION#v}"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-tools: go is not installed; cosign interop tests will skip" >&2
  exit 0
fi
log="$dir/logs/cosign-$COSIGN_VERSION.log"
echo "build-tools: building cosign $COSIGN_VERSION (log: $log)" >&2
if ! GOBIN="$dir" GOFLAGS=-mod=mod nice -n 10 go install \
  "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION" >"$log" 2>&1; then
  echo "build-tools: cosign build failed; interop tests will skip. last lines of $log:" >&2
  tail -n 20 "$log" >&2
fi
exit 0
