#!/usr/bin/env bash
# Headless Chromium for the Temporal UI browser test (Debian's package; playwright-core drives it).
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then echo "chromium is missing: apt-get install chromium (as root)" >&2; exit 1; fi
apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version
