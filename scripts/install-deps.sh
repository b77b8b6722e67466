#!/bin/sh
# Installs the Debian packages ctrace needs to build and test, only if some are missing.
# Used by `make test`, `make demo` and `.ci/run`; sudo is used when not root.
set -e
PKGS="build-essential pkg-config libopenblas-dev libopenblas0-pthread libdnnl-dev libcjson-dev libonig-dev libutf8proc-dev libcairo2-dev poppler-utils fonts-dejavu-core xz-utils python3 python3-numpy python3-setuptools python3-pip python3-venv"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >/dev/null
