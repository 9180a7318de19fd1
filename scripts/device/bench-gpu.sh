#!/usr/bin/env bash
# .device/bench-gpu.sh ARGS...: `npm run bench:gpu -- --no-browser ARGS...` without node_modules
# (Node/Dawn half only: the browser half needs Playwright and a Chromium). JSON to $OUT/bench-gpu.json.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$NODE" "$PACK_DIR/bench-gpu.mjs" --no-browser "$@"
