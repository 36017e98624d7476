#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from their Go modules at the versions
# pinned in scripts/k8s-versions.env, into a cache outside the repository, so that only the first run builds.
# Prints the directory holding the binaries. A cold build takes tens of minutes on two cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=k8s-versions.env
source "$here/k8s-versions.env"
cache="${WEFT_CACHE_DIR:-$HOME/.cache/weft}"
out="$cache/k8s/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() { for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done; }
if complete; then echo "$out"; exit 0; fi

mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

# etcd: a one-line main around etcdmain, as etcd's own binary is.
if [[ ! -x "$out/etcd" ]]; then
  mkdir -p "$work/etcd"
  cat >"$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work/etcd" && go mod init weft.dev/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 &&
    go mod tidy >&2 &&
    go build -trimpath -o "$out/etcd.tmp" . && mv "$out/etcd.tmp" "$out/etcd")
fi

# Kubernetes: k8s.io/kubernetes replaces its staging modules with ./staging paths, which a consumer cannot follow;
# point each at the published module of the same minor (v0.<minor>.<patch>).
if ! complete; then
  mkdir -p "$work/k8s"
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  cd "$work/k8s"
  go mod init weft.dev/k8s >/dev/null 2>&1
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod edit -require "k8s.io/kubernetes@$KUBERNETES_VERSION"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | while read -r mod; do
    go mod edit -replace "$mod=$mod@$staging_version"
  done
  go mod tidy >&2
  major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
  minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$out/$b" ]] && continue
    echo "building $b $KUBERNETES_VERSION (slow the first time)" >&2
    go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$out/$b.tmp" "$out/$b"
  done
fi
complete
echo "$out"
