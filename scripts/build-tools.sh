#!/usr/bin/env bash
# Builds the reference tools the interop tests compare against (cosign; notation-sign, our signer
# on notation-go in test/tools/notation-sign) into .cache/tools, from the Go module proxy. Test
# tooling only; a failed build is reported and the interop tests then skip with a note saying the
# binary is absent.
set -uo pipefail
cd "$(dirname "$0")/.."
COSIGN_VERSION=v2.4.1
dir="$PWD/.cache/tools"
mkdir -p "$dir/logs"
if ! command -v go >/dev/null 2>&1; then
  echo "build-tools: go is not installed; cosign and notation interop tests will skip" >&2
  exit 0
fi
if ! { [ -x "$dir/cosign" ] && "$dir/cosign" version 2>/dev/null | grep -q "${COSIGN_VERSION#v}"; }; then
  log="$dir/logs/cosign-$COSIGN_VERSION.log"
  echo "build-tools: building cosign $COSIGN_VERSION (log: $log)" >&2
  if ! GOBIN="$dir" GOFLAGS=-mod=mod nice -n 10 go install \
    "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION" >"$log" 2>&1; then
    echo "build-tools: cosign build failed; interop tests will skip. last lines of $log:" >&2
    tail -n 20 "$log" >&2
  fi
fi

# notation-sign: rebuilt when its sources change (the stamp holds their hash).
src="$PWD/test/tools/notation-sign"
stamp=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)
if [ "$(cat "$dir/notation-sign.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -x "$dir/notation-sign" ]; then
  log="$dir/logs/notation-sign.log"
  echo "build-tools: building notation-sign (notation-go v1.3.2; log: $log)" >&2
  if (cd "$src" && GOFLAGS=-mod=mod nice -n 10 go build -o "$dir/.notation-sign.tmp" .) >"$log" 2>&1; then
    mv -f "$dir/.notation-sign.tmp" "$dir/notation-sign" && echo "$stamp" >"$dir/notation-sign.stamp"
  else
    echo "build-tools: notation-sign build failed; notation interop tests will skip. last lines of $log:" >&2
    tail -n 20 "$log" >&2
  fi
fi
exit 0
