#!/usr/bin/env bash
# Installs the Debian packages the benchmarks use (not the tests): Janus (the side-by-side
# baseline), iproute2 (the network namespace), ffmpeg (the load tool's clips) and Chromium (the
# plot's PNG). Needs root (or passwordless sudo). Safe to run again: does nothing when all are there.
set -euo pipefail
INSTALL_LABEL=setup-bench "$(dirname "$0")/install-debian-packages.sh" janus iproute2 ffmpeg chromium
# Janus's package starts a system service on install; the benchmark runs its own copy, so stop it.
if command -v systemctl >/dev/null && systemctl is-active --quiet janus 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO systemctl stop janus || true
fi
