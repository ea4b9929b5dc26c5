#!/usr/bin/env bash
# Lock acquire+release round trips per second against a local redis-server, next to
# `redis-benchmark -t set` on the same server in the same run (issue 6).
# Usage: scripts/bench/locks.sh [ROUNDS] [CONCURRENCY]
# LOCKS_BENCH_BIN=path skips the build and runs that lock_roundtrips binary instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-20000}"
concurrency="${2:-16}"
for bin in redis-server redis-benchmark; do
  command -v "$bin" >/dev/null || { echo "$bin is missing: run scripts/test to install it" >&2; exit 1; }
done

bench_bin="${LOCKS_BENCH_BIN:-}"
if [ -z "$bench_bin" ]; then
  cargo build --release --example lock_roundtrips
  bench_bin=target/release/examples/lock_roundtrips
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

echo "== redis-server $(redis-server --version | grep -o 'v=[^ ]*') on 127.0.0.1:$port, $(nproc) cores"
echo "== healbot RedisLockManager: $rounds acquire+release rounds (2 Lua scripts each)"
"$bench_bin" "redis://127.0.0.1:$port/0" "$rounds" "$concurrency" | tee "$dir/locks.out"
echo "== redis-benchmark -t set -n 100000, 1 client, then $concurrency clients"
# -q still draws a progress line with carriage returns; keep the final figure.
for clients in 1 "$concurrency"; do
  printf '%s clients: ' "$clients"
  redis-benchmark -p "$port" -t set -n 100000 -c "$clients" -q | tr '\r' '\n' | grep 'requests per second' | tee "$dir/set-$clients.out"
done
# The goal (issue 18): one client's acquire+release at least a third of one client's SET.
locks1="$(awk -F': ' '/1 client:/ { print $2 }' "$dir/locks.out")"
set1="$(awk '{ for (i = 1; i <= NF; i++) if ($i == "requests") print $(i - 1) }' "$dir/set-1.out" | head -1)"
awk -v l="$locks1" -v s="$set1" 'BEGIN { if (s > 0) printf "== 1 client: %.0f lock acquire+release/s, %.0f SET/s: %.2fx (goal 0.33x)\n", l, s, l / s }'
