#!/bin/sh
# `npm test` for the PHP SDK: runs PHPUnit. A missing php or phpunit is a failure, never a skip:
# scripts/setup-system.sh installs Debian's php-cli, php-curl, php-xml, php-mbstring and phpunit.
set -eu
cd "$(dirname "$0")/.."
for tool in php phpunit node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "sdk-php: '$tool' is not installed; run scripts/setup-system.sh (as root) to install php-cli and phpunit" >&2
    exit 1
  fi
done
exec phpunit -c phpunit.xml.dist "$@"
