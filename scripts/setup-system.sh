#!/usr/bin/env bash
# Installs the Debian packages Colloquy's tests and tools use, if any is missing: Chromium (browser
# tests), ffmpeg (archives, the load tool's clips), unzip, PHP + PHPUnit (the PHP SDK). Needs root
# (or passwordless sudo). Safe to run again: it does nothing when everything is there.
set -euo pipefail
INSTALL_LABEL=setup-system exec "$(dirname "$0")/install-debian-packages.sh" chromium ffmpeg php-cli php-curl php-xml php-mbstring phpunit unzip
