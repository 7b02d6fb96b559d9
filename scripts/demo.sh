#!/usr/bin/env bash
# The README's main job: set up a local headless ComfyUI with Distill3D (idempotent), run the main shipped workflow
# on the built-in primitive world, and copy what it wrote to out/demo/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKFLOW="${1:-$ROOT/workflows/01 CPU Text to 3D - DreamFusion.json}"
bash "$ROOT/scripts/setup_host.sh" 0.3.75
PY=$(sed -n 's/^python=//p' "${D3_HOST_DIR:-$ROOT/.host}/host.env")
exec "$PY" "$ROOT/scripts/comfy_host.py" run "$WORKFLOW" --out "$ROOT/out/demo"
