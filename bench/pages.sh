#!/usr/bin/env bash
# Page benchmark at scale: 100,000 tokens in the measured account and 1,000,000 in the
# database, on SQLite and on PostgreSQL. wrk with a signed-in session cookie at 16
# connections on Dashboard, API Tokens (page 1, page 500, a search), Expired & Revoked and a
# token page; then the token check at 64 connections; each beside the hello-world ceiling
# measured in the same run.
# Usage: bench/pages.sh   (needs wrk and curl; PostgreSQL at 127.0.0.1:5432 for its half;
#        BACKENDS="sqlite" to skip it; DURATION=10s per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2 DURATION=${DURATION:-10s}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=18191 HELLO_PORT=18192
PG=${SESAME_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
PASSWORD="plum-Orbit-lantern-42-gravel"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin sesame --example bench-hello
work=$(mktemp -d)
pg_db="sesame_bench_$$"
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sesame=./target/release/sesame

# wrk's figures: requests/s, p50, p99, non-2xx. Argument: connections, url, headers...
# A 3-second warm-up first (pool connections opened, caches filled) is not counted.
measure() {
  local connections=$1 url=$2; shift 2
  local args=() out
  for header in "$@"; do args+=(-H "$header"); done
  wrk -t$THREADS -c"$connections" -d3s "${args[@]}" "$url" >/dev/null
  out=$(wrk -t$THREADS -c"$connections" -d"$DURATION" --latency "${args[@]}" "$url")
  awk '/^Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
       /Non-2xx/ {errors=$5} END {printf "%s | %s | %s | %s", rps, p50, p99, errors+0}' <<<"$out"
}

HELLO_BIND="127.0.0.1:$HELLO_PORT" ./target/release/examples/bench-hello &
pids+=($!)
sleep 0.5
hello16=$(measure 16 "http://127.0.0.1:$HELLO_PORT/")
hello64=$(measure 64 "http://127.0.0.1:$HELLO_PORT/")

report=()
for backend in $BACKENDS; do
  export SESAME_DATA_DIR="$work/$backend" SESAME_BIND="127.0.0.1:$PORT" SESAME_LOG=warn
  if [ "$backend" = postgres ]; then
    psql -q "$PG/postgres" -c "CREATE DATABASE $pg_db"
    export SESAME_DATABASE_URL="$PG/$pg_db"
  else
    unset SESAME_DATABASE_URL
  fi
  started=$(date +%s)
  $sesame seed --account Bench --tokens 100000
  $sesame seed --account Others --tokens 900000
  echo "$backend: seeded 1,000,000 tokens in $(( $(date +%s) - started )) s"
  # PostgreSQL: statistics for the planner, and the bulk load's dirty pages written out
  # now rather than by a checkpoint in the middle of a measurement.
  if [ "$backend" = postgres ]; then psql -q "$SESAME_DATABASE_URL" -c "VACUUM ANALYZE" -c "CHECKPOINT"; fi
  # The seed makes some 28,000 tokens due for their 48-hour reminder at once: send those
  # now (to .eml files), so the server measures pages, not a one-off backlog of e-mail.
  $sesame notify --once
  # Let the kernel write the bulk load out before measuring, not during.
  sync
  echo "$PASSWORD" | $sesame user add --account Bench --email bench@bench.test --role admin >/dev/null

  $sesame serve 2>"$work/$backend.log" &
  server=$!
  pids+=($server)
  base="http://127.0.0.1:$PORT" jar="$work/$backend.jar"
  for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done

  # Sign in as a browser does; wrk then sends the session cookie.
  csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
  token=$(curl -fs -c "$jar" -b "$jar" "$base/login" | csrf)
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d email=bench@bench.test --data-urlencode "password=$PASSWORD" "$base/login"
  cookie="Cookie: sesame_session=$(awk '$6 == "sesame_session" {print $7}' "$jar")"
  list=$(curl -fs -H "$cookie" "$base/tokens")
  token_id=$(grep -o 'href="/tokens/[0-9a-f-]\{36\}"' <<<"$list" | head -1 | sed 's/.*tokens\///;s/"$//')
  # A search for one token by part of its name, as an admin looks one up.
  needle=$(grep -o 'synthetic-[A-Za-z0-9_-]*-[0-9]\{7\}' <<<"$list" | head -1 | sed 's/.*-//')
  grep -q "of 2[0-9]\{3\}" <<<"$list" || { echo "expected thousands of pages" >&2; exit 1; }

  # A real token for the check, made through the pages.
  token=$(curl -fs -H "$cookie" "$base/tokens/new" | csrf)
  page=$(curl -fs -H "$cookie" --data-urlencode "csrf_token=$token" -d name=bench-check -d expires_in=30d "$base/tokens")
  username=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  password=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  auth="Authorization: Basic $(printf '%s:%s' "$username" "$password" | base64 -w0)"

  for entry in "Dashboard|/dashboard" "API Tokens, page 1|/tokens" \
      "API Tokens, page 500|/tokens?page=500" "API Tokens, search|/tokens?q=$needle" \
      "Expired & Revoked|/tokens/inactive" "a token page|/tokens/$token_id"; do
    name=${entry%%|*} path=${entry#*|}
    for _ in $(seq 100); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$cookie" "$base$path")" = 200 ] && break
      sleep 0.3
    done
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "$cookie" "$base$path")" = 200
    report+=("| $backend | $name | $(measure 16 "$base$path" "$cookie") |")
  done
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base/api/v1/whoami")" = 200
  check=$(measure 64 "$base/api/v1/whoami" "$auth")
  rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  kill "$server"; wait "$server" 2>/dev/null || true
  check_rps=${check%% *}
  ratio=$(awk -v a="$check_rps" -v b="${hello64%% *}" 'BEGIN {printf "%.1f", 100*a/b}')
  report+=("| $backend | token check, 64 connections ($ratio % of hello-world) | $check |")
  report+=("| $backend | server peak RSS | $((rss_kib / 1024)) MiB | | | |")
done

echo
echo "## Pages, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -d$DURATION, 100,000 tokens in the account, 1,000,000 in all"
echo
echo "| backend | page | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
echo "| — | hello-world ceiling, 16 connections | $hello16 |"
echo "| — | hello-world ceiling, 64 connections | $hello64 |"
printf '%s\n' "${report[@]}"
