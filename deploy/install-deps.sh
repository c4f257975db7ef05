#!/usr/bin/env bash
# Installs the Debian 12 packages vantage needs to build, test and run its
# demo. Installs only what is missing; never starts a system service.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libuv1-dev libcurl4-openssl-dev libssl-dev
  libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libcyaml-dev libsqlite3-dev libc-ares-dev libnats-dev
  python3 python3-yaml curl ca-certificates
  prometheus   # prometheus + promtool for the metrics tests; never left running
  chromium     # headless, for the status page test (tests/integration/statuspage.py)
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A package that ships a daemon must not leave it running: policy-rc.d
# tells invoke-rc.d not to start services during this install.
cleanup_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  cleanup_policy=1
fi
trap 'if [ $cleanup_policy -eq 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Belt and braces: if a postinst started prometheus despite policy-rc.d,
# stop it and keep it from starting at boot (the tests run their own).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable prometheus >/dev/null 2>&1 || true
fi
