#!/usr/bin/env bash
# Token API benchmark: the release server with 10,000 tokens, /api/v1/whoami with valid
# credentials, against a minimal actix-web hello-world measured in the same run.
# Usage: bench/token_api.sh                    SQLite, wrk -t2 -c64
#        BACKEND=postgres bench/token_api.sh   PostgreSQL at 127.0.0.1:5432, wrk at 50
#          connections: one process, then two processes (25 connections each, at once),
#          then the latency of 200 revokes through one process with the other under load.
# (needs wrk: apt-get install wrk; PostgreSQL mode also psql)
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-sqlite}
THREADS=2 CONNECTIONS=64 DURATION=${DURATION:-10s}
[ "$BACKEND" = postgres ] && CONNECTIONS=50
SESAME_PORT=18181 HELLO_PORT=18182 SECOND_PORT=18183
PG=${PG:-postgres://postgres@127.0.0.1:5432}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin sesame --example bench-hello
bin=./target/release/sesame
# PERF=1 profiles the release code with line tables (`cargo build --profile profiling`).
if [ "${PERF:-0}" = 1 ]; then
  cargo build --profile profiling --quiet --bin sesame
  bin=./target/profiling/sesame
fi
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && commit="$commit-dirty"
work=$(mktemp -d)
pids=()
database=""
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$database" ] && psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export SESAME_DATA_DIR="$work/data" SESAME_BIND="127.0.0.1:$SESAME_PORT" SESAME_LOG=warn
if [ "$BACKEND" = postgres ]; then
  database="sesame_bench_$$"
  psql -q "$PG/postgres" -c "CREATE DATABASE $database" >/dev/null
  export SESAME_DATABASE_URL="$PG/$database" SESAME_SECRET_KEY="bench-key-shared-by-every-process-0123456789"
  # The revoke timing calls each revoked token once more: 200 deliberate 401s a run.
  export SESAME_API_MAX_FAILURES_PER_MINUTE=100000
fi
$bin seed --account Bench --tokens 10000
echo "plum-Orbit-lantern-42-gravel" | $bin user add --account Bench --email bench@bench.test --role admin >/dev/null
$bin serve 2>"$work/server.log" &
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
  summary "$1" "$out"
}
summary() { # name wrk-output
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1=="50%" {print $2}' <<<"$2")
  p99=$(awk '$1=="99%" {print $2}' <<<"$2")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$2")
  echo "$1 $rps $p50 $p99 ${errors:-0}"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
hello=$(run hello "http://127.0.0.1:$HELLO_PORT/")
ticks_before=$(cpu_ticks "$sesame_pid")
# PERF=1: a CPU profile of the server during the run (perf's cpu-clock: works where the
# hardware counters are not offered), its hottest symbols printed after the table.
if [ "${PERF:-0}" = 1 ]; then
  perf record -q -e cpu-clock -F 999 -g -p "$sesame_pid" -o "$work/perf.data" -- sleep "${DURATION%s}" 2>/dev/null &
  perf_pid=$!
fi
whoami=$(run whoami "$base/api/v1/whoami" "$auth")
ticks_after=$(cpu_ticks "$sesame_pid")
[ "${PERF:-0}" = 1 ] && wait "$perf_pid"
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$sesame_pid/status")

read -r _ hello_rps hello_p50 hello_p99 _ <<<"$hello"
read -r _ who_rps who_p50 who_p99 who_errors <<<"$whoami"
ratio=$(awk -v a="$who_rps" -v b="$hello_rps" 'BEGIN {printf "%.1f", 100*a/b}')
seconds=${DURATION%s}
cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v r="$who_rps" -v s="$seconds" \
  'BEGIN {printf "%.1f", 1e6 * t / hz / (r * s)}')
store=SQLite; [ "$BACKEND" = postgres ] && store=PostgreSQL
echo
echo "## Token API, commit $commit, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, 10,000 tokens on $store"
echo
echo "| server | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
echo "| hello-world (ceiling) | $hello_rps | $hello_p50 | $hello_p99 | 0 |"
echo "| sesame /api/v1/whoami, one process | $who_rps | $who_p50 | $who_p99 | $who_errors |"
profile() {
  [ "${PERF:-0}" = 1 ] || return 0
  echo
  echo "Hottest symbols of the server during the one-process run (perf, self time):"
  echo
  echo '```'
  perf report -q -i "$work/perf.data" --no-children --sort symbol --percent-limit 1.5 -g none 2>/dev/null \
    | sed 's/[ -]*$//' | grep -v '^$' | head -25
  echo
  perf report -q -i "$work/perf.data" --no-children --sort dso -g none 2>/dev/null \
    | sed 's/[ -]*$//' | grep -v '^$' | head -8
  echo '```'
}
[ "$BACKEND" = postgres ] || {
  echo
  echo "whoami / hello-world: ${ratio}%; sesame CPU per check: ${cpu_us} µs; sesame peak RSS: $((rss_kib / 1024)) MiB"
  profile
  exit 0
}

# PostgreSQL: a second process on the same database, and both loaded at once.
SESAME_DATA_DIR="$work/data2" SESAME_BIND="127.0.0.1:$SECOND_PORT" $bin serve 2>"$work/server2.log" &
pids+=($!)
second="http://127.0.0.1:$SECOND_PORT"
for _ in $(seq 50); do curl -fs "$second/healthz" >/dev/null && break; sleep 0.1; done
test "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$second/api/v1/whoami")" = 200
half=$((CONNECTIONS / 2))
wrk -t1 -c$half -d$DURATION --latency -H "$auth" "$base/api/v1/whoami" >"$work/wrk-a" &
wrk_a=$!
wrk -t1 -c$half -d$DURATION --latency -H "$auth" "$second/api/v1/whoami" >"$work/wrk-b"
wait "$wrk_a"
read -r _ a_rps a_p50 a_p99 a_errors <<<"$(summary a "$(cat "$work/wrk-a")")"
read -r _ b_rps b_p50 b_p99 b_errors <<<"$(summary b "$(cat "$work/wrk-b")")"
both_rps=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", a+b}')
both_ratio=$(awk -v a="$both_rps" -v b="$hello_rps" 'BEGIN {printf "%.1f", 100*a/b}')
echo "| sesame, two processes: A ($half connections) | $a_rps | $a_p50 | $a_p99 | $a_errors |"
echo "| sesame, two processes: B ($half connections) | $b_rps | $b_p50 | $b_p99 | $b_errors |"
echo "| sesame, two processes together | $both_rps | | | |"

# The revoke's own latency: 200 tokens made through A and checked on B (cached there),
# then revoked through A, timed by curl, with B under load; B must refuse each at once.
wrk -t1 -c$half -d60s -H "$auth" "$second/api/v1/whoami" >/dev/null &
load=$!
pids+=($load)
: >"$work/revokes"
late=0
for i in $(seq 200); do
  token=$(curl -fs -c "$jar" -b "$jar" "$base/tokens/new" | csrf)
  page=$(curl -fs -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" -d "name=revoke $i" -d expires_in=30d "$base/tokens")
  id=$(grep -o 'id="token-page-link"[^>]*href="/tokens/[^"]*' <<<"$page" | sed 's|.*/tokens/||')
  user=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  pass=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  curl -fs -o /dev/null -u "$user:$pass" "$second/api/v1/whoami"
  curl -s -o /dev/null -w '%{time_total}\n' -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" "$base/tokens/$id/revoke" >>"$work/revokes"
  code=$(curl -s -o /dev/null -w '%{http_code}' -u "$user:$pass" "$second/api/v1/whoami")
  [ "$code" = 401 ] || late=$((late + 1))
done
kill "$load" 2>/dev/null || true
revoke_p50=$(sort -n "$work/revokes" | awk '{a[NR]=$1} END {printf "%.1f", 1000*a[int(NR*0.5)]}')
revoke_p99=$(sort -n "$work/revokes" | awk '{a[NR]=$1} END {printf "%.1f", 1000*a[int(NR*0.99)]}')
echo
echo "one process / hello-world: ${ratio}%; CPU per check (one process): ${cpu_us} µs; two processes / hello-world: ${both_ratio}% (two wrk of one thread each against one of two threads: not the same client, read with care); peak RSS of A: $((rss_kib / 1024)) MiB"
echo "revoke through A with B under load, 200 revokes: p50 ${revoke_p50} ms, p99 ${revoke_p99} ms; accepted by B after the revoke: $late"
profile
