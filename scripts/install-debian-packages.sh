#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are missing (apt-get update first, as root
# or through passwordless sudo). Does nothing when all are there. Used by setup-system.sh (what the
# tests need) and setup-bench.sh (what the benchmarks need).
set -euo pipefail

label="${INSTALL_LABEL:-install-debian-packages}"
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$label: all Debian packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "$label: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "$label: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"
