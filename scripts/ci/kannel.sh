#!/usr/bin/env bash
# Kannel (bearerbox, smsbox, wapbox, fakesmsc) for the SMS / WAP push integration tests.
exec bash "$(dirname "$0")/../install-kannel.sh"
