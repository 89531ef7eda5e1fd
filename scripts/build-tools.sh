#!/usr/bin/env bash
# Builds the reference tools the interop tests compare against (cosign v2 and v3; notation-sign,
# our signer on notation-go in test/tools/notation-sign) into .cache/tools, from the Go module
# proxy. Test tooling only; a failed build is reported and the interop tests then skip with a
# note saying the binary is absent.
set -uo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/.cache/tools"
mkdir -p "$dir/logs"
if ! command -v go >/dev/null 2>&1; then
  echo "build-tools: go is not installed; cosign and notation interop tests will skip" >&2
  exit 0
fi
# One build at a time per cache (checkouts may share it); a second caller waits, then finds the
# binary there.
exec 9>"$dir/.lock"
flock 9

# build NAME VERSION MODULE: go install MODULE@VERSION as $dir/NAME unless that version is there.
build() {
  local name=$1 version=$2 module=$3
  if [ -x "$dir/$name" ] && "$dir/$name" version 2>/dev/null | grep -q "${version#v}"; then
    return 0
  fi
  local log="$dir/logs/$name-$version.log" staging="$dir/.staging-$name"
  echo "build-tools: building $name $version (log: $log)" >&2
  rm -rf "$staging"
  if GOBIN="$staging" GOFLAGS=-mod=mod nice -n 10 go install "$module@$version" >"$log" 2>&1; then
    mv -f "$staging/cosign" "$dir/$name"
  else
    echo "build-tools: $name build failed; interop tests will skip. last lines of $log:" >&2
    tail -n 20 "$log" >&2
  fi
  rm -rf "$staging"
}

build cosign v2.4.1 github.com/sigstore/cosign/v2/cmd/cosign
build cosign-v3 v3.1.3 github.com/sigstore/cosign/v3/cmd/cosign

# notation-sign: built from this repository, again when its sources change (the stamp holds their hash).
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
