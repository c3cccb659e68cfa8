#!/usr/bin/env bash
# Installs what the dashboard's browser tests (tests/dashboard_browser.rs) drive: Debian's headless-capable
# Chromium and its WebDriver, from apt, only when /usr/bin/chromium or /usr/bin/chromedriver is missing.
# Needs root (CI runs as root); elsewhere it says what to install and leaves the tests to fail with the
# same hint (or to be skipped with PINION_SKIP_BROWSER_TESTS=1).
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "setup-browser: chromium and chromium-driver are missing; install them (sudo apt-get install -y chromium chromium-driver)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
echo "setup-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) and chromedriver installed"
