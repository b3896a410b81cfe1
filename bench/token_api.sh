#!/usr/bin/env bash
# Token API benchmark: the release server on SQLite with 10,000 tokens, /api/v1/whoami with
# valid credentials, against a minimal actix-web hello-world measured in the same run.
# Usage: bench/token_api.sh   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2 CONNECTIONS=64 DURATION=${DURATION:-10s}
SESAME_PORT=18181 HELLO_PORT=18182

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin sesame --example bench-hello
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && commit="$commit-dirty"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export SESAME_DATA_DIR="$work/data" SESAME_BIND="127.0.0.1:$SESAME_PORT" SESAME_LOG=warn
./target/release/sesame seed --account Bench --tokens 10000
echo "plum-Orbit-lantern-42-gravel" | ./target/release/sesame user add --account Bench --email bench@bench.test --role admin >/dev/null
./target/release/sesame serve 2>"$work/server.log" &
pids+=($!); sesame_pid=$!
HELLO_BIND="127.0.0.1:$HELLO_PORT" ./target/release/examples/bench-hello &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$SESAME_PORT/healthz" >/dev/null && break; sleep 0.1; done

# One real token, made the way an admin makes one.
base="http://127.0.0.1:$SESAME_PORT" jar="$work/jar"
csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
token=$(curl -fs -c "$jar" -b "$jar" "$base/login" | csrf)
curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
  -d email=bench@bench.test --data-urlencode "password=plum-Orbit-lantern-42-gravel" "$base/login"
token=$(curl -fs -c "$jar" -b "$jar" "$base/tokens/new" | csrf)
page=$(curl -fs -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" -d name=bench -d expires_in=30d "$base/tokens")
username=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
password=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
auth="Authorization: Basic $(printf '%s:%s' "$username" "$password" | base64 -w0)"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base/api/v1/whoami")" = 200

run() { # name url [header]
  local out
  if [ $# -eq 3 ]; then out=$(wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -H "$3" "$2")
  else out=$(wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency "$2"); fi
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$1 $rps $p50 $p99 ${errors:-0}"
}
hello=$(run hello "http://127.0.0.1:$HELLO_PORT/")
whoami=$(run whoami "$base/api/v1/whoami" "$auth")
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$sesame_pid/status")

read -r _ hello_rps hello_p50 hello_p99 _ <<<"$hello"
read -r _ who_rps who_p50 who_p99 who_errors <<<"$whoami"
ratio=$(awk -v a="$who_rps" -v b="$hello_rps" 'BEGIN {printf "%.1f", 100*a/b}')
echo
echo "## Token API, commit $commit, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, 10,000 tokens on SQLite"
echo
echo "| server | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
echo "| hello-world (ceiling) | $hello_rps | $hello_p50 | $hello_p99 | 0 |"
echo "| sesame /api/v1/whoami | $who_rps | $who_p50 | $who_p99 | $who_errors |"
echo
echo "whoami / hello-world: ${ratio}%; sesame peak RSS: $((rss_kib / 1024)) MiB"
