#!/usr/bin/env bash
# The README's test command: set up everything the tests need (idempotent), then run all of them.
#   tests/core     the library, without ComfyUI
#   tests/host     real headless ComfyUI servers with the pack loaded: 0.3.75 (all) and the newest (marked tests)
#   tests/browser  ComfyUI's real frontends in headless Chromium (1.32.9 and 1.49.6)
# Two pytest-xdist workers with one torch thread each share the machine's two cores (see tests/conftest.py);
# D3_TEST_WORKERS=0 runs them in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_host.sh" all
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
WORKERS="${D3_TEST_WORKERS:-2}"
if [ "$WORKERS" = 0 ]; then
  exec "$PY" -m pytest tests --durations=30 "$@"
fi
exec "$PY" -m pytest -n "$WORKERS" --dist load --maxschedchunk 1 tests --durations=30 "$@"
