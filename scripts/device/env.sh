# Sourced by the device pack's scripts (.device/run.sh, bench-gpu.sh, study-all.sh; copied there by
# scripts/device-pack.sh). Unpacks the carried Node and Dawn into /tmp, puts the
# carried Vulkan loader on the library path where the system has none, and points the loader at
# NVIDIA's driver when /dev/nvidia0 exists. Without a GPU, src/gpu/node.ts picks SwiftShader.
PACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$PACK_DIR")
RUNTIME_DIR=${DEVICE_RUNTIME_DIR:-/tmp/adapter-studio-device}
mkdir -p "$RUNTIME_DIR"

unxz_to() { # unxz_to FILE.xz DEST: once; python3's lzma where xz is missing
  [ -s "$2" ] && return 0
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2.part"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"
  fi && mv "$2.part" "$2"
}

NODE="$RUNTIME_DIR/node"
unxz_to "$PACK_DIR/node.xz" "$NODE" && chmod +x "$NODE" || { echo "device pack: cannot unpack $PACK_DIR/node.xz" >&2; exit 1; }
# Dawn goes to /tmp too, linked where the webgpu package's index.js looks (a link: the pack stays small enough to carry).
DAWN="$PACK_DIR/node_modules/webgpu/dist/linux-x64/dawn.node"
unxz_to "$DAWN.xz" "$RUNTIME_DIR/dawn.node" && ln -sfn "$RUNTIME_DIR/dawn.node" "$DAWN" || { echo "device pack: cannot unpack $DAWN.xz" >&2; exit 1; }

has_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
for lib in vulkan:libvulkan.so.1 glvnd:libGLdispatch.so.0; do
  dir="$PACK_DIR/lib/${lib%%:*}"
  if ! has_lib "${lib#*:}" && [ -e "$dir/${lib#*:}" ]; then export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
done
if [ -e /dev/nvidia0 ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
  [ -n "${VK_DRIVER_FILES:-}" ] || echo "device pack: /dev/nvidia0 exists but no nvidia_icd.json was found; set VK_DRIVER_FILES" >&2
  if ! has_lib libGLX_nvidia.so.0; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
      if [ -e "$d/libGLX_nvidia.so.0" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
    done
  fi
fi
OUT=${OUT:-/tmp/adapter-studio-out}
mkdir -p "$OUT"
cd "$REPO_ROOT" || exit 1
