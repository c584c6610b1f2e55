#!/usr/bin/env bash
# Installs the Debian packages Colloquy's tests and tools use, if any is missing: Chromium (browser
# tests), ffmpeg (archives, the load tool's clips), unzip, PHP + PHPUnit (the PHP SDK), and for the
# deployment tests coturn (TURN), nginx (the reverse-proxy recipe), openssl (test certificates),
# iproute2 + nftables (ICE-TCP with UDP blocked in a network namespace; the impaired-network
# harness) + iptables and gcc/libc6-dev (the harness's userspace delay line, an NFQUEUE program it
# compiles, for kernels without tc netem) and systemd (the unit file
# is checked with systemd-analyze), and for the SIP interconnect tests baresip (the far-end phone)
# and sox (its test tone; it also mixes noise into espeak-ng speech for the noise suppression test), and for live captions
# pocketsphinx + pocketsphinx-en-us (the default speech-to-text engine, libpocketsphinx and its US English model) and espeak-ng
# (the test speech), and for the cluster tests redis-server (node liveness, load and session placement). Needs root (or passwordless sudo). Safe to run again: it does
# nothing when everything is there.
set -euo pipefail
# postgresql: the store suite runs every repository against a PostgreSQL it starts itself (initdb and
# postgres from /usr/lib/postgresql/*/bin; as root through `unshare -U` from util-linux).
INSTALL_LABEL=setup-system exec "$(dirname "$0")/install-debian-packages.sh" chromium ffmpeg php-cli php-curl php-xml php-mbstring phpunit unzip coturn nginx openssl iproute2 nftables iptables gcc libc6-dev systemd baresip sox pocketsphinx pocketsphinx-en-us espeak-ng redis-server postgresql util-linux
