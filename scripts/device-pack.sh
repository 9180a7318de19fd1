#!/usr/bin/env bash
# scripts/device-pack.sh: builds .device/ (ignored), what a lent GPU machine (no network, no Node,
# no node_modules) needs to run the study and bench:gpu's Node half from a copy of the working tree:
#   node.xz                     this machine's Node, xz-compressed (unpacked into /tmp there)
#   node_modules/webgpu/        the webgpu package's index.js and package.json, dist/linux-x64/dawn.node.xz
#   lib/vulkan, lib/glvnd       libvulkan.so.1 and libGLdispatch.so.0, used only where the system has none
#   study.mjs, bench-gpu.mjs    src/cli/study.ts and bench/gpu.ts bundled by esbuild (scripts/device/bundle.mjs)
#   env.sh, run.sh, bench-gpu.sh, study-all.sh, probe.mjs   from scripts/device/
# Then, on the machine: `.device/run.sh STUDY_ARGS...`, `.device/bench-gpu.sh --quick`, `.device/study-all.sh`
# (BENCHMARKS.md, "Device pack (session 8)"). Rerunning it rebuilds the bundles and reuses the
# compressed binaries while their sources are unchanged.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACK="$ROOT/.device"
NODE_BIN=${PACK_NODE:-$(command -v node)}
DAWN_SRC="$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node"
LIMIT_MB=60
mkdir -p "$PACK/node_modules/webgpu/dist/linux-x64" "$PACK/lib/vulkan" "$PACK/lib/glvnd"

# xz_once SRC DEST.xz: compress unless DEST.xz is newer than SRC.
xz_once() {
  if [ ! -s "$2" ] || [ "$1" -nt "$2" ]; then
    echo "device-pack: xz $1 ($(du -m "$1" | cut -f1) MB) …"
    xz -9 -T2 -c "$1" >"$2.part" && mv "$2.part" "$2"
  fi
}
xz_once "$(readlink -f "$NODE_BIN")" "$PACK/node.xz"
xz_once "$DAWN_SRC" "$PACK/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
rm -f "$PACK/node_modules/webgpu/dist/linux-x64/dawn.node"
cp "$ROOT/node_modules/webgpu/index.js" "$ROOT/node_modules/webgpu/package.json" "$ROOT/node_modules/webgpu/LICENSE.md" "$PACK/node_modules/webgpu/"

# The Vulkan loader and libglvnd's dispatcher (which NVIDIA's libGLX_nvidia.so.0, the Vulkan ICD,
# links): this machine's copies, else Debian's packages (needs the network here, as the device
# README's .gl recipe does).
copy_lib() { # copy_lib NAME DIR DEB
  local found
  found=$(ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }')
  if [ -z "$found" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "$3" >/dev/null && dpkg -x ./*.deb x) || { echo "device-pack: no $1 here and apt-get download $3 failed" >&2; exit 1; }
    found=$(find "$tmp/x" -name "$1" | head -n 1)
  fi
  cp -L "$found" "$PACK/lib/$2/$1"
}
copy_lib libvulkan.so.1 vulkan libvulkan1
copy_lib libGLdispatch.so.0 glvnd libglvnd0

cp "$ROOT"/scripts/device/{env.sh,run.sh,bench-gpu.sh,study-all.sh,probe.mjs} "$PACK/"
chmod +x "$PACK"/{run.sh,bench-gpu.sh,study-all.sh}
(cd "$ROOT" && "$NODE_BIN" scripts/device/bundle.mjs "$PACK" --check)

mb=$(du -sm "$PACK" | cut -f1)
echo "device-pack: $PACK is $mb MB (limit $LIMIT_MB; with the working tree it must stay under the device tool's 64 MiB)"
[ "$mb" -lt "$LIMIT_MB" ] || { echo "device-pack: .device is over $LIMIT_MB MB" >&2; exit 1; }
