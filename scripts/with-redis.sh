#!/usr/bin/env bash
# Runs a command with REDIS_URL pointing at a throwaway redis-server on a free loopback port,
# stopped afterwards. If REDIS_URL is already set, uses that server instead.
# Usage: scripts/with-redis.sh <command> [args...]
set -euo pipefail

if [ -n "${REDIS_URL:-}" ]; then
  exec "$@"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-lock-XXXXXX")
stop() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      # gone, or a zombie waiting for init to reap it
      case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in ""|Z*) break ;; esac
      sleep 0.1
    done
  fi
  rm -rf "$dir"
}
trap stop EXIT

free_port() {
  php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo substr(strrchr(stream_socket_get_name($s, false), ":"), 1);'
}

for _ in $(seq 1 10); do
  port=$(free_port)
  if redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$dir" --pidfile "$dir/redis.pid" --daemonize yes --logfile "$dir/redis.log" \
      --enable-debug-command local >/dev/null; then
    for _ in $(seq 1 50); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        export REDIS_URL="redis://127.0.0.1:$port"
        echo "redis-server for this run: $REDIS_URL" >&2
        "$@"
        exit $?
      fi
      sleep 0.1
    done
  fi
  stop_pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  [ -n "$stop_pid" ] && kill "$stop_pid" 2>/dev/null || true
done
echo "could not start a redis-server" >&2
exit 1
