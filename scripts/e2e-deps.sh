#!/usr/bin/env bash
# Makes sure what the e2e cluster with a node runs is installed (Debian packages): the container
# runtime and network plugins of the node, and the tools that build its images.
# As root, installs what is missing; otherwise names what to install and fails.
set -euo pipefail

declare -A need=(
  [containerd]=containerd
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [conntrack]=conntrack
  [iptables]=iptables
  [nft]=nftables
  [ip]=iproute2
  [nsenter]=util-linux
  [umoci]=umoci
  [buildah]=buildah
  [debootstrap]=debootstrap
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [gcc]=gcc
  [/usr/lib/x86_64-linux-gnu/libc.a]=libc6-dev
  [gpg]=gnupg
  [openssl]=openssl
)
missing=()
for what in "${!need[@]}"; do
  if [[ "$what" == /* ]]; then
    [[ -e "$what" ]] || missing+=("${need[$what]}")
  else
    command -v "$what" >/dev/null 2>&1 || missing+=("${need[$what]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "portcullis e2e: missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}   (or run the e2e command as root)" >&2
  exit 1
fi
echo "portcullis e2e: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
