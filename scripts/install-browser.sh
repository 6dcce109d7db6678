#!/usr/bin/env sh
# Install what the browser tests (pytest -m browser) need: Debian's Chromium and the Playwright
# Python package (its driver only; Playwright never downloads a browser here). Idempotent.
set -eu
PY="${PYTHON:-.venv/bin/python}"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
if ! "$PY" -c "import playwright" 2>/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PY" -m pip install -q playwright==1.65.2
fi
/usr/bin/chromium --version
"$PY" -m pip show playwright | grep -i "^version"
