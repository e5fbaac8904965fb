#!/usr/bin/env bash
# Installs the built extension and an ini file that loads it, so `php -m` lists redis_lock.
#
#   scripts/install.sh                 # system PHP: extension dir from php-config; on Debian the
#                                      # ini goes to mods-available and phpenmod enables it for
#                                      # every SAPI (cli, fpm, apache2)
#   EXTENSION_DIR=/x INI_DIR=/y scripts/install.sh   # explicit directories (used by the tests)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
so="$here/target/release/libredis_lock.so"
PHP=${PHP:-php}
PHP_CONFIG=${PHP_CONFIG:-php-config}
[ -f "$so" ] || { echo "build first: make build" >&2; exit 1; }

ext_dir=${EXTENSION_DIR:-$($PHP_CONFIG --extension-dir)}
install -d "$ext_dir"
install -m 0644 "$so" "$ext_dir/redis_lock.so"
echo "installed $ext_dir/redis_lock.so"

ini_body='; RedisLock: a distributed lock on Redis (installed by make install)
; priority=30
extension=redis_lock.so'

if [ -n "${INI_DIR:-}" ]; then
  install -d "$INI_DIR"
  printf '%s\n' "$ini_body" > "$INI_DIR/30-redis_lock.ini"
  echo "installed $INI_DIR/30-redis_lock.ini"
  exit 0
fi

version=$($PHP -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;')
mods="/etc/php/$version/mods-available"
if command -v phpenmod >/dev/null && [ -d "$mods" ]; then
  printf '%s\n' "$ini_body" > "$mods/redis_lock.ini"
  phpenmod -v "$version" redis_lock
  echo "installed $mods/redis_lock.ini and enabled it with phpenmod (restart php-fpm to load it)"
else
  scan=$($PHP -r 'echo PHP_CONFIG_FILE_SCAN_DIR;')
  install -d "$scan"
  printf '%s\n' "$ini_body" > "$scan/30-redis_lock.ini"
  echo "installed $scan/30-redis_lock.ini"
fi
