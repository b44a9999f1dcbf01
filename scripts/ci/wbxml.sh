#!/usr/bin/env bash
# libwbxml's xml2wbxml / wbxml2xml (Debian libwbxml2-utils): the independent codec that
# test/unit/dm-wbxml.test.ts checks the SyncML DM WBXML codec against.
set -euo pipefail
if command -v xml2wbxml >/dev/null && command -v wbxml2xml >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libwbxml2-utils >/dev/null
else
  echo "missing libwbxml2-utils (xml2wbxml, wbxml2xml): install it, or run CI as root on Debian" >&2
  exit 1
fi
