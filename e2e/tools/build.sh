#!/usr/bin/env bash
# Builds the binaries the e2e harness runs (kube-apiserver, kubectl, etcd, helm; kubelet,
# kube-scheduler, kube-controller-manager and kube-proxy for the cluster with a node) from the Go
# module proxy, each pinned by a go.mod beside this script, and caches them in
# .cache/e2e-bin/<component>-<version>/ so only the first run on a machine pays for the build.
#
# usage: e2e/tools/build.sh [component...]
#   components: kubernetes etcd helm (the default) and kubernetes-node (asked for by the node harness)
# stdout: one "<binary>=<absolute path>" line per binary; progress and errors go to stderr.
# env: PORTCULLIS_E2E_BIN overrides the cache folder.
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$tools_dir/../.." && pwd)"
cache_dir="${PORTCULLIS_E2E_BIN:-$repo_root/.cache/e2e-bin}"
log_dir="$cache_dir/logs"

say() { printf 'e2e build: %s\n' "$*" >&2; }

# component -> module whose version keys the cache, and the binaries it provides (tool packages).
module_of() {
  case "$1" in
    kubernetes | kubernetes-node) echo k8s.io/kubernetes ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    helm) echo helm.sh/helm/v3 ;;
    *) return 1 ;;
  esac
}

packages_of() {
  case "$1" in
    kubernetes) echo "kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kubectl=k8s.io/kubernetes/cmd/kubectl" ;;
    kubernetes-node)
      echo "kubelet=k8s.io/kubernetes/cmd/kubelet kube-proxy=k8s.io/kubernetes/cmd/kube-proxy" \
        "kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler" \
        "kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager"
      ;;
    etcd) echo "etcd=go.etcd.io/etcd/server/v3" ;;
    helm) echo "helm=helm.sh/helm/v3/cmd/helm" ;;
  esac
}

# The folder whose go.mod pins the component: the node binaries share the API server's, so one
# go.mod pins every Kubernetes binary (and the Go build cache serves both builds).
gomod_dir_of() {
  case "$1" in
    kubernetes-node) echo kubernetes ;;
    *) echo "$1" ;;
  esac
}

# The version the component's go.mod pins: the require line of its module, never a replace line.
version_of() {
  local module="$1" gomod="$2"
  awk -v m="$module" '
    /=>/ { next }
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v/ { print $2; exit }
  ' "$gomod"
}

# Release builds stamp their version with -X; go build alone would report v0.0.0, and
# kube-apiserver derives its emulation version from that. Helm's release build also stamps the
# Kubernetes version `helm template` assumes (its client-go minor, major + 1): unstamped it says
# v1.20, which charts requiring a newer kubeVersion refuse.
ldflags_of() {
  local component="$1" version="$2" gomod="$3"
  case "$component" in
    kubernetes | kubernetes-node)
      local major="${version#v}" minor
      minor="${major#*.}"
      major="${major%%.*}"
      minor="${minor%%.*}"
      local pkg flags="-s -w"
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
      done
      echo "$flags"
      ;;
    etcd) echo "-s -w" ;;
    helm)
      local client_go kube_major kube_minor flags pkg
      client_go="$(version_of k8s.io/client-go "$gomod")"
      client_go="${client_go#v}"
      kube_major=$((${client_go%%.*} + 1))
      kube_minor="${client_go#*.}"
      kube_minor="${kube_minor%%.*}"
      flags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
      for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
        flags+=" -X $pkg.k8sVersionMajor=$kube_major -X $pkg.k8sVersionMinor=$kube_minor"
      done
      echo "$flags"
      ;;
  esac
}

build_component() {
  local component="$1" module version gomod target entry name
  module="$(module_of "$component")"
  local gomod_dir
  gomod_dir="$tools_dir/$(gomod_dir_of "$component")"
  gomod="$gomod_dir/go.mod"
  version="$(version_of "$module" "$gomod")"
  if [[ -z "$version" ]]; then
    say "$component: no version of $module pinned in $gomod"
    return 1
  fi
  target="$cache_dir/$component-$version"
  local ldflags
  ldflags="$(ldflags_of "$component" "$version" "$gomod")"

  # A build made with other flags (an older version of this script) is rebuilt.
  if [[ ! -f "$target/.complete" || "$(cat "$target/.ldflags" 2>/dev/null)" != "$ldflags" ]]; then
    command -v go >/dev/null || {
      say "$component: go not found on PATH; building the e2e binaries needs Go (see $gomod for the version)"
      return 1
    }
    mkdir -p "$log_dir"
    local log="$log_dir/$component-$version.log" staging="$cache_dir/.staging-$component-$version"
    local pkg started elapsed
    rm -rf "$staging"
    mkdir -p "$staging"
    started=$SECONDS
    say "$component $version: building (first run on this machine; log: $log)"
    (
      echo "# $component $version, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(go version)"
      for entry in $(packages_of "$component"); do
        name="${entry%%=*}"
        pkg="${entry#*=}"
        echo "# go build $pkg -> $name"
        (cd "$gomod_dir" &&
          CGO_ENABLED=0 GOFLAGS=-mod=readonly nice -n 10 \
            go build -buildvcs=false -trimpath -ldflags "$ldflags" -o "$staging/$name" "$pkg") || exit 1
      done
    ) >"$log" 2>&1 || {
      say "$component $version: build failed; log: $log"
      tail -n 20 "$log" | sed 's/^/  | /' >&2
      rm -rf "$staging"
      return 1
    }
    elapsed=$((SECONDS - started))
    echo "# built in ${elapsed}s" >>"$log"
    echo "$ldflags" >"$staging/.ldflags"
    echo "$elapsed" >"$staging/.complete"
    rm -rf "$target"
    mv "$staging" "$target"
    say "$component $version: built in ${elapsed}s"
  fi

  for entry in $(packages_of "$component"); do
    name="${entry%%=*}"
    echo "$name=$target/$name"
  done
}

main() {
  local components=("$@")
  if [[ ${#components[@]} -eq 0 ]]; then
    components=(kubernetes etcd helm)
  fi
  local component
  for component in "${components[@]}"; do
    if ! module_of "$component" >/dev/null; then
      say "unknown component \"$component\", expected one of: kubernetes etcd helm kubernetes-node"
      return 2
    fi
  done
  mkdir -p "$cache_dir"
  # One build at a time per cache folder: concurrent test runs wait instead of racing.
  exec 9>"$cache_dir/.lock"
  flock 9
  for component in "${components[@]}"; do
    build_component "$component"
  done
}

main "$@"
exit
