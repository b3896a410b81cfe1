#!/usr/bin/env bash
# Instructions per token check, before and after a change: each build serves its own SQLite
# database under callgrind; the counters are zeroed once a token is made, wrk calls
# /api/v1/whoami for DURATION, and the instructions counted (all threads) are divided by the
# requests answered. Instruction counts do not move with the machine's speed or load, so two
# builds compare where requests/s are too noisy to (bench/RESULTS.md).
# Usage: BEFORE=/path/to/old/sesame AFTER=/path/to/new/sesame bench/check_instructions.sh
# Needs valgrind (callgrind_control), wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?set BEFORE to the older sesame binary}" "${AFTER:?set AFTER to the newer one}"
DURATION=${DURATION:-10s}
PASSWORD="plum-Orbit-lantern-42-gravel"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }

# Instructions per check, and the requests counted, for one binary.
per_check() { # name binary port
  local name=$1 bin=$2 port=$3 base="http://127.0.0.1:$3" jar="$work/$1.jar" token page auth out requests
  export SESAME_DATA_DIR="$work/$name" SESAME_BIND="127.0.0.1:$port" SESAME_LOG=warn
  "$bin" seed --account Bench --tokens 1000 >/dev/null
  echo "$PASSWORD" | "$bin" user add --account Bench --email bench@bench.test --role admin >/dev/null
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" "$bin" serve 2>"$work/$name.log" &
  pids+=($!)
  local pid=$!
  for _ in $(seq 600); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  token=$(curl -fs -c "$jar" -b "$jar" "$base/login" | csrf)
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d email=bench@bench.test --data-urlencode "password=$PASSWORD" "$base/login"
  token=$(curl -fs -c "$jar" -b "$jar" "$base/tokens/new" | csrf)
  page=$(curl -fs -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" -d name=bench -d expires_in=30d "$base/tokens")
  auth="Authorization: Basic $(printf '%s:%s' "$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')" \
    "$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')" | base64 -w0)"
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base/api/v1/whoami")" = 200
  # Warm (the cache holds the token), then count from zero.
  wrk -t1 -c4 -d2s -H "$auth" "$base/api/v1/whoami" >/dev/null
  callgrind_control --zero "$pid" >/dev/null 2>&1
  out=$(wrk -t1 -c4 -d"$DURATION" -H "$auth" "$base/api/v1/whoami")
  callgrind_control --dump "$pid" >/dev/null 2>&1
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  grep -q "Non-2xx" <<<"$out" && { echo "$name: non-2xx answers" >&2; exit 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # The dump after zeroing: the last file callgrind wrote besides the final one.
  local dump
  dump=$(ls -t "$work/$name.out".* | head -1)
  awk -v n="$requests" '/^summary:/ {printf "%.0f %d", $2 / n, n}' "$dump"
}
read -r before before_n <<<"$(per_check before "$BEFORE" 18211)"
read -r after after_n <<<"$(per_check after "$AFTER" 18212)"
echo "| build | requests counted | instructions per check |"
echo "|---|---|---|"
echo "| before | $before_n | $before |"
echo "| after | $after_n | $after |"
echo
echo "after / before: $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.3f", a / b}')"
