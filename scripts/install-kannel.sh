#!/usr/bin/env bash
# Installs the Kannel WAP/SMS gateway (bearerbox, smsbox, wapbox) and kannel-extras (fakesmsc)
# from the Debian/Ubuntu archive, for the channel integration tests (test/helpers/kannel.ts).
# Idempotent: does nothing when `bearerbox` is already on PATH (or in /usr/sbin).
# Needs root or passwordless sudo. The Debian package enables a system `kannel` service; the
# tests never use it (they start their own boxes in a temp dir), so it is stopped/disabled here.
set -euo pipefail

have_kannel() {
  command -v bearerbox >/dev/null 2>&1 || [ -x /usr/sbin/bearerbox ]
}

if have_kannel; then
  echo "install-kannel: bearerbox already installed ($(command -v bearerbox || echo /usr/sbin/bearerbox))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-kannel: must run as root (or with sudo) to apt-get install kannel" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# policy-rc.d keeps the package's init script from starting the system-wide gateway.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends kannel kannel-extras

# Make sure no system gateway holds the default ports (13000/13013/13002/8080).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now kannel >/dev/null 2>&1 || true
fi

have_kannel || { echo "install-kannel: bearerbox still missing after install" >&2; exit 1; }
echo "install-kannel: installed $(dpkg-query -W -f='${Package} ${Version}\n' kannel kannel-extras | tr '\n' ' ')"
