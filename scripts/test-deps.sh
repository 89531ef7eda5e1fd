#!/usr/bin/env bash
# Makes sure the real components the tests run against are installed (Debian packages).
# As root, installs what is missing; otherwise names what to install and fails.
set -euo pipefail

declare -A need=(
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [gpg]=gnupg
  [openssl]=openssl
  [unsquashfs]=squashfs-tools
  [redis-server]=redis-server
  [redis-cli]=redis-tools
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "portcullis tests: missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}   (or run the test command as root)" >&2
  exit 1
fi
echo "portcullis tests: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
