#!/usr/bin/env bash
# The README's test command: set up everything the tests need (idempotent), then run all of them.
#   tests/core     the library, without ComfyUI
#   tests/host     a real headless ComfyUI 0.3.75 with the pack loaded
#   tests/browser  ComfyUI's real frontend in headless Chromium
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_host.sh"
if [ -z "${D3_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing Chromium (Debian package) for the browser tests" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
PY=$(sed -n 's/^python=//p' "${D3_HOST_DIR:-$ROOT/.host}/host.env")
cd "$ROOT"
exec "$PY" -m pytest tests "$@"
