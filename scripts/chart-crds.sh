#!/usr/bin/env bash
# Copies Cilium's policy CRDs (scripts/cilium-crds.sh, from the github.com/cilium/cilium module) into the Helm chart's
# files/cilium-crds/, which charts/weft/templates/cilium-crds.yaml renders when the cluster lacks them. They are
# Cilium's files, so they are fetched, not kept in the repository. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cilium-crds.sh
version=$(cat src/sources/CILIUM_VERSION)
out=charts/weft/files/cilium-crds
mkdir -p "$out"
cp ".cache/cilium/$version/crds/"*.yaml "$out/"
