#!/usr/bin/env sh
# Install what the browser tests (pytest -m browser) need: Debian's Chromium, a CJK font (so
# Chinese pages render in screenshots), and the Playwright Python package (its driver only;
# Playwright never downloads a browser here). Idempotent: does nothing when all are present.
set -eu
PY="${PYTHON:-.venv/bin/python}"
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$missing fonts-noto-cjk"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
if ! "$PY" -c "import playwright" 2>/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PY" -m pip install -q playwright==1.65.2
fi
/usr/bin/chromium --version 2>/dev/null || true
"$PY" -m pip show playwright | grep -i "^version"
