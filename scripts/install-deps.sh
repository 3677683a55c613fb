#!/usr/bin/env bash
# Install the Debian packages a profile needs, only those missing, with sudo when not root.
# Usage: scripts/install-deps.sh demo|test
set -euo pipefail
profile=${1:-demo}
# What the gateway itself needs on any machine: a venv, a compiler and PC/SC headers for pyscard,
# the PC/SC daemon, fonts for the OLED mirror.
base=(python3-venv python3-dev gcc swig libpcsclite-dev pcscd fonts-unifont fonts-wqy-zenhei socat openssl)
# What the tests start for real: virtual reader, broker, browser, systemd's analyzer, shellcheck.
test=(vsmartcard-vpcd pcsc-tools mosquitto mosquitto-clients chromium systemd shellcheck nodejs)
pkgs=("${base[@]}")
[ "$profile" = test ] && pkgs+=("${test[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
