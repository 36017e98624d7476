#!/usr/bin/env bash
# Builds CoreDNS (github.com/coredns/coredns, the version the Gateway API conformance base manifests deploy) into a
# cache outside the repository, for the local cluster's kubelet, which runs it for the image
# registry.k8s.io/coredns/coredns (the suite waits for every pod of its namespaces, this one included).
# Prints the binary's path. Idempotent: only the first run builds.
set -euo pipefail
version=v1.12.2
cache="${WEFT_CACHE_DIR:-$HOME/.cache/weft}"
out="$cache/coredns"
bin="$out/coredns"
stamp="$out/version"
if [[ -x "$bin" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$out"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$out/gobin"
go install -trimpath "github.com/coredns/coredns@$version" >&2
mv "$GOBIN/coredns" "$bin"
rmdir "$GOBIN" 2>/dev/null || true
echo "$version" >"$stamp"
echo "$bin"
