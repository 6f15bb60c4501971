#!/bin/sh
# End-to-end checks of the updelta-device daemon against a scripted OMA DM
# peer (tests/dm_peer.py, Python 3 stdlib) serving sessions and packages on
# 127.0.0.1: the full FUMO flow, kill -9 at every step and restart, failure
# results, bad notifications, alert retries.  Every server is started by the
# driver on free loopback ports and stopped at its end.
# Usage: device_test.sh UPDELTA_DEVICE UPDELTA UPDELTA_SYNTH [SCENARIO...]
set -u
command -v python3 >/dev/null || { echo "device_test: python3 missing"; exit 1; }
exec python3 "$(dirname "$0")/device_e2e.py" "$@"
