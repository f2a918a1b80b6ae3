#!/usr/bin/env bash
# Install what the browser tests (tests/test_jupyterlab_e2e.py, the site test in
# tests/test_site.py) need on a fresh Debian machine (run as root):
# Debian's chromium and the Playwright Python package. No `playwright install`: browsers are
# never downloaded; the test drives /usr/bin/chromium.
# Usage: bash .ci/install_e2e.sh [VENV]   (default: the active virtualenv, else python3)
set -euo pipefail

venv="${1:-${VIRTUAL_ENV:-}}"
python="python3"
if [ -n "$venv" ]; then
    python="$venv/bin/python"
fi

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y chromium
fi
"$python" -m pip install --quiet "playwright==1.65.2"
echo "e2e tools: $(chromium --version 2>/dev/null | head -1); playwright $("$python" -m pip show playwright | awk '/^Version/ {print $2}')"
