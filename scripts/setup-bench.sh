#!/usr/bin/env bash
# Installs the Debian packages the benchmarks use (not the tests): Janus (the side-by-side
# baseline), iproute2 (the network namespace), ffmpeg (the load tool's clips) and Chromium (the
# plot's PNG). Needs root (or passwordless sudo). Safe to run again: does nothing when all are there.
set -euo pipefail

PACKAGES=(janus iproute2 ffmpeg chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-bench: all Debian packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-bench: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup-bench: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Janus's package starts a system service on install; the benchmark runs its own copy, so stop it.
$SUDO apt-get install -y -qq "${missing[@]}"
if command -v systemctl >/dev/null && systemctl is-active --quiet janus 2>/dev/null; then
  $SUDO systemctl stop janus || true
fi
