#!/usr/bin/env bash
# .device/run.sh STUDY_ARGS...: `npm run study -- STUDY_ARGS...` without node_modules (the device
# pack; scripts/device-pack.sh). Relative paths are from the repository root; $OUT (default
# /tmp/adapter-studio-out) is created.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$NODE" "$PACK_DIR/study.mjs" "$@"
