#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (test tools cannot download browsers here).
# Installs it when it is missing and we are root; otherwise says what to do.
set -euo pipefail
chromium="${CC_E2E_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "The browser tests need Chromium at $chromium: run 'sudo apt-get install chromium'" \
       "(or set CC_E2E_CHROMIUM to another Chromium binary)." >&2
  exit 1
fi
