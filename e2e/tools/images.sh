#!/usr/bin/env bash
# Builds the images the e2e cluster with a node runs; nothing is pulled from a public registry.
#
# usage: e2e/tools/images.sh scratch KUBECTL   OCI layout with tags `pause` (pause.c of the pinned
#                                               Kubernetes source, linked statically) and `kubectl`
#        e2e/tools/images.sh node-base NODE    a Debian bookworm rootfs (debootstrap, minbase) with
#                                               the given Node 24 binary and npm, as a buildah image
#        e2e/tools/images.sh portcullis BASE   the repository's Dockerfile built by buildah on BASE
# stdout: "<name>=<value>" lines; progress and errors go to stderr, each step's output to a log
# named in the error. Cached in .cache/e2e-images (PORTCULLIS_E2E_IMAGES moves it), built once.
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$tools_dir/../.." && pwd)"
cache_dir="${PORTCULLIS_E2E_IMAGES:-$repo_root/.cache/e2e-images}"
log_dir="$cache_dir/logs"
# npm for the Node base image, as the official Node 24 images carry it.
npm_version=11.21.3
debian_suite=bookworm
debian_mirror="${PORTCULLIS_E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { printf 'e2e images: %s\n' "$*" >&2; }

# Runs "$@" with its output in the log $1 names; on failure names the log and shows its tail.
step() {
  local what="$1" log="$log_dir/$2.log"
  shift 2
  mkdir -p "$log_dir"
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    say "$what failed; log: $log"
    tail -n 20 "$log" | sed 's/^/  | /' >&2
    return 1
  fi
}

kubernetes_version() {
  awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$tools_dir/kubernetes/go.mod"
}

# buildah with its own storage under the cache, in a private mount namespace: the overlay mounts
# of a build never outlive it, even when it is killed.
buildah_here() {
  local dir="$cache_dir/buildah"
  mkdir -p "$dir/tmp" "$dir/cni"
  # Its network configuration (which it creates even when the build uses the host's network)
  # goes under the cache too, not to /etc/cni.
  printf '[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "%s"\n' "$dir/cni" >"$dir/containers.conf"
  CONTAINERS_CONF="$dir/containers.conf" TMPDIR="$dir/tmp" unshare --mount -- \
    buildah --root "$dir/root" --runroot "$dir/run" --storage-driver overlay "$@"
}

build_scratch() {
  local kubectl="$1" version target staging
  version="$(kubernetes_version)"
  target="$cache_dir/scratch-$version"
  if [[ ! -f "$target/.complete" ]]; then
    local src
    src="$(cd "$tools_dir/kubernetes" && go mod download -json k8s.io/kubernetes | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [[ -f "$src/build/pause/linux/pause.c" ]] || {
      say "pause: no build/pause/linux/pause.c in k8s.io/kubernetes $version (module folder: ${src:-not found})"
      return 1
    }
    staging="$cache_dir/.staging-scratch-$version"
    rm -rf "$staging"
    mkdir -p "$staging"
    say "pause and kubectl images ($version): building"
    # The flags of the pause image's own Makefile.
    step "pause: gcc" "pause-$version" gcc -Os -Wall -Werror -static "-DVERSION=$version-e2e" \
      -o "$staging/pause" "$src/build/pause/linux/pause.c"
    step "pause: umoci" "pause-$version" umoci init --layout "$staging/oci"
    local image
    for image in pause kubectl; do
      step "$image: umoci" "pause-$version" umoci new --image "$staging/oci:$image"
    done
    step "pause: umoci" "pause-$version" umoci insert --image "$staging/oci:pause" "$staging/pause" /pause
    step "pause: umoci" "pause-$version" umoci config --image "$staging/oci:pause" \
      --config.entrypoint /pause --config.user 65535:65535
    step "kubectl: umoci" "pause-$version" umoci insert --image "$staging/oci:kubectl" "$kubectl" /bin/kubectl
    step "kubectl: umoci" "pause-$version" umoci config --image "$staging/oci:kubectl" \
      --config.entrypoint /bin/kubectl --config.user 65532:65532
    step "pause: umoci gc" "pause-$version" umoci gc --layout "$staging/oci"
    touch "$staging/.complete"
    rm -rf "$target"
    mv "$staging" "$target"
  fi
  echo "layout=$target/oci"
  echo "version=$version"
}

build_node_base() {
  local node="$1" node_version key target rootfs
  node_version="$("$node" --version)"
  # The host's CA bundle: npm ci inside the build trusts what the host trusts (a machine whose
  # egress goes through a TLS proxy). npm reads it through its global npmrc; Node at run time does not.
  local ca_bundle=/etc/ssl/certs/ca-certificates.crt ca_key=none
  [[ -f "$ca_bundle" ]] && ca_key="$(sha256sum "$ca_bundle" | cut -c1-12)"
  key="$debian_suite-node-$node_version-npm-$npm_version-ca-$ca_key"
  target="$cache_dir/node-base-$key"
  if [[ ! -f "$target/.complete" ]]; then
    command -v debootstrap >/dev/null || {
      say "node base: debootstrap not found (apt-get install debootstrap)"
      return 1
    }
    rootfs="$cache_dir/debian-$debian_suite-minbase"
    if [[ ! -f "$rootfs.complete" ]]; then
      say "node base: debootstrap $debian_suite (first run on this machine; log: $log_dir/debootstrap.log)"
      rm -rf "$rootfs"
      # debootstrap mounts /proc and /sys in the target: in a private mount namespace they go with it.
      step "node base: debootstrap" debootstrap unshare --mount -- \
        debootstrap --variant=minbase "$debian_suite" "$rootfs" "$debian_mirror"
      rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
      touch "$rootfs.complete"
    fi
    local staging="$cache_dir/.staging-node-base"
    rm -rf "$staging"
    mkdir -p "$staging/usr/local/bin" "$staging/usr/local/lib/node_modules"
    install -m 0755 "$node" "$staging/usr/local/bin/node"
    step "node base: npm pack" node-base npm pack "npm@$npm_version" --pack-destination "$staging"
    tar -xzf "$staging/npm-$npm_version.tgz" -C "$staging/usr/local/lib/node_modules"
    mv "$staging/usr/local/lib/node_modules/package" "$staging/usr/local/lib/node_modules/npm"
    rm "$staging/npm-$npm_version.tgz"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$staging/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$staging/usr/local/bin/npx"
    if [[ "$ca_key" != none ]]; then
      install -D -m 0644 "$ca_bundle" "$staging/etc/ssl/certs/ca-certificates.crt"
      mkdir -p "$staging/usr/local/etc"
      echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$staging/usr/local/etc/npmrc"
    fi
    tar -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$staging.rootfs.tar" .
    tar -C "$staging" -cf "$staging.node.tar" .
    local ctr
    ctr="$(buildah_here from --pull=never scratch)"
    step "node base: buildah add" node-base buildah_here add "$ctr" "$staging.rootfs.tar" /
    step "node base: buildah add" node-base buildah_here add "$ctr" "$staging.node.tar" /
    step "node base: buildah config" node-base buildah_here config \
      --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env "NODE_VERSION=${node_version#v}" --cmd node --os linux --arch amd64 "$ctr"
    step "node base: buildah commit" node-base buildah_here commit --rm "$ctr" "localhost/portcullis-e2e/node:$key"
    rm -rf "$staging" "$staging.rootfs.tar" "$staging.node.tar"
    mkdir -p "$target"
    touch "$target/.complete"
  fi
  echo "image=localhost/portcullis-e2e/node:$key"
}

build_portcullis() {
  local base="$1" started=$SECONDS
  say "portcullis image: buildah build on $base (log: $log_dir/portcullis.log)"
  : >"$log_dir/portcullis.log"
  # --layers reuses the npm ci layers while package-lock.json is unchanged; the RUN steps reach
  # the npm registry through the host's network (no bridge, no NAT).
  step "portcullis image: buildah build" portcullis buildah_here build --isolation chroot --network host \
    --layers --pull=never --build-arg "NODE_IMAGE=$base" -t localhost/portcullis:e2e \
    -f "$repo_root/Dockerfile" "$repo_root"
  echo "image=localhost/portcullis:e2e"
  echo "seconds=$((SECONDS - started))"
  echo "size=$(buildah_here images --format '{{.Size}}' localhost/portcullis:e2e)"
}

main() {
  local what="${1:-}"
  mkdir -p "$cache_dir" "$log_dir"
  exec 9>"$cache_dir/.lock"
  flock 9
  case "$what" in
    scratch) build_scratch "$2" ;;
    node-base) build_node_base "$2" ;;
    portcullis) build_portcullis "$2" ;;
    push) buildah_here push --tls-verify=false --digestfile "$4" "$2" "$3" >>"$log_dir/push.log" 2>&1 || {
      say "push of $2 to $3 failed; log: $log_dir/push.log"
      tail -n 20 "$log_dir/push.log" | sed 's/^/  | /' >&2
      return 1
    } ;;
    *)
      say "unknown image \"$what\", expected one of: scratch node-base portcullis push"
      return 2
      ;;
  esac
}

main "$@"
