#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those missing. Usage: scripts/deps.sh [test|bench]
# Needs root (or sudo) only when something is missing.
set -euo pipefail

# The bridge's tests (bridge/) load Laravel and Symfony from Debian's packages, and ThinkPHP's
# PSR dependencies (psr/container, psr/log, psr/simple-cache) from Debian too.
# libssl-dev + pkg-config: the openssl crate links the libssl PHP already uses (rediss://);
# openssl: the CLI the TLS tests make their certificates with.
packages=(php-cli php-dev clang libclang-dev redis-server redis-tools phpunit php-redis
          php-laravel-framework php-symfony-lock php-psr-container php-psr-log php-psr-simple-cache
          libssl-dev pkg-config openssl)
if [ "${1:-test}" = bench ]; then
  packages+=(php-predis valgrind php-malkusch-lock
             php8.2-fpm nginx wrk gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Do not let the packages start their services (redis on 6379, nginx on 80, php-fpm): the
# project starts its own servers on free ports and stops them.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -n "$created_policy" ]; then
  $sudo rm -f "$policy"
fi
