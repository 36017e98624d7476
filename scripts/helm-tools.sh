#!/usr/bin/env bash
# Builds helm and kubeconform (the Helm chart's test tools, issue 10) from their Go modules at pinned versions into a
# cache outside the repository; only the first run builds. Prints the directory holding both binaries.
set -euo pipefail
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
cache="${WEFT_CACHE_DIR:-$HOME/.cache/weft}"
out="$cache/helm-$HELM_VERSION-kubeconform-$KUBECONFORM_VERSION-2"
if [[ -x "$out/helm" && -x "$out/kubeconform" ]]; then echo "$out"; exit 0; fi
mkdir -p "$out"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
# go install pkg@version builds in module mode without a consumer module, honouring the tool's own go.mod.
if [[ ! -x "$out/helm" ]]; then
  echo "building helm $HELM_VERSION" >&2
  # As helm's Makefile does: the version, and the Kubernetes version `helm template` and `helm lint` assume by default
  # (that of the client-go it is built with, v0.37 → 1.37; without it Helm assumes 1.20).
  GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
fi
if [[ ! -x "$out/kubeconform" ]]; then
  echo "building kubeconform $KUBECONFORM_VERSION" >&2
  GOBIN="$out" go install -trimpath -ldflags "-s -w" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
fi
echo "$out"
