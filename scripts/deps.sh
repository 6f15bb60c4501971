#!/bin/sh
# Install the Debian packages updelta builds, tests and demos with.
# Idempotent; runs apt-get update once when something is missing.
set -eu
PKGS="build-essential cmake pkg-config libzstd-dev libxxhash-dev liburing-dev libcriterion-dev
      libdivsufsort-dev liblzma-dev libssl-dev zstd time ca-certificates clang
      libexpat1-dev libwbxml2-dev libwbxml2-utils libxml2-utils libcurl4-openssl-dev nginx openssl
      python3 libmicrohttpd-dev libsqlite3-dev curl fio gnuplot-nox sqlite3 jq iproute2 strace"
[ "$#" -gt 0 ] && PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages:$missing (run as root, or install them)" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
