#!/usr/bin/env bash
# Page benchmark at scale, as users meet the pages: the server starts on an empty database
# with its scheduler on the default tick, and `sesame seed` fills it while it runs (no
# restart). The measured account (Bench) gets 100,000 tokens, 300,000 audit events,
# 100,000 sent notices, 10,000 users and 90 days of usage counts for every token (9,000,000
# rows; 30 days in the short run); another account 900,000 tokens, so the database holds
# 1,000,000. wrk then sends a signed-in session cookie at 16 connections to every page
# an admin or support user opens, and calls the token check at 64; each as a share of the
# hello-world ceiling measured at the start and at the end of the same run (the higher).
# Then, with the server stopped, the weekly report and the usage totals' daily roll, timed.
#
# Usage: bench/pages.sh           SQLite and PostgreSQL (PostgreSQL at 127.0.0.1:5432),
#                                 DURATION=10s a page; BACKENDS="sqlite" for one
#        bench/pages.sh --short   CI: SQLite, the measured account only, 3 s a page; fails
#                                 when a page serves under 2 % of the hello-world ceiling or
#                                 its p50 is over 10 ms, scaled to this machine's speed
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/page_list.sh
SHORT=false
[ "${1:-}" = "--short" ] && SHORT=true
THREADS=2
if $SHORT; then
  DURATION=3s WARMUP=1s BACKENDS=sqlite OTHERS=0 USAGE_DAYS=${USAGE_DAYS:-30}
else
  DURATION=${DURATION:-10s} WARMUP=3s BACKENDS=${BACKENDS:-"sqlite postgres"} OTHERS=900000
  USAGE_DAYS=${USAGE_DAYS:-90}
fi
PORT=18191 HELLO_PORT=18192
PG=${SESAME_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
PASSWORD="plum-Orbit-lantern-42-gravel"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin sesame --example bench-hello
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && commit="$commit-dirty"
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

# wrk's figures: requests/s, p50 and p99 (in ms), non-2xx. Arguments: connections, url,
# headers... A warm-up first (pool connections opened, caches filled) is not counted.
measure() {
  local connections=$1 url=$2; shift 2
  local args=() out
  for header in "$@"; do args+=(-H "$header"); done
  wrk -t$THREADS -c"$connections" -d"$WARMUP" "${args[@]}" "$url" >/dev/null
  out=$(wrk -t$THREADS -c"$connections" -d"$DURATION" --latency "${args[@]}" "$url")
  awk 'function ms(t) { if (t ~ /us$/) return t / 1000; if (t ~ /ms$/) return t + 0;
                        if (t ~ /s$/) return t * 1000; return t }
       /^Requests\/sec/ {rps=$2} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
       /Non-2xx/ {errors=$5} END {printf "%.0f %.2f %.2f %d", rps, p50, p99, errors+0}' <<<"$out"
}
# Wall-clock seconds a command takes (its output discarded).
seconds() {
  local started=$(date +%s.%N)
  "$@" >/dev/null || { echo "$* failed" >&2; return 1; }
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'
}
# A table row from measure's figures.
row() { awk '{printf "%s | %.2f ms | %.2f ms | %d", $1, $2, $3, $4}' <<<"$1"; }

HELLO_BIND="127.0.0.1:$HELLO_PORT" ./target/release/examples/bench-hello &
pids+=($!)
sleep 0.5
hello16=$(measure 16 "http://127.0.0.1:$HELLO_PORT/")
hello64=$(measure 64 "http://127.0.0.1:$HELLO_PORT/")

report=() failures=() pages=() checks=() rss=() jobs=()
for backend in $BACKENDS; do
  export SESAME_DATA_DIR="$work/$backend" SESAME_BIND="127.0.0.1:$PORT" SESAME_LOG=warn
  unset SESAME_NOTIFY_INTERVAL_SECS
  if [ "$backend" = postgres ]; then
    psql -q "$PG/postgres" -c "CREATE DATABASE $pg_db"
    export SESAME_DATABASE_URL="$PG/$pg_db"
  else
    unset SESAME_DATABASE_URL
  fi
  $sesame serve 2>"$work/$backend.log" &
  server=$!
  pids+=($server)
  base="http://127.0.0.1:$PORT" jar="$work/$backend.jar"
  for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  echo "$PASSWORD" | $sesame user add --account Bench --email bench@bench.test --role admin >/dev/null

  # Into the running server.
  started=$(date +%s)
  $sesame seed --account Bench --tokens 100000 --events 300000 --notices 100000 --users 10000 \
    --usage-days "$USAGE_DAYS"
  [ "$OTHERS" -gt 0 ] && $sesame seed --account Others --tokens "$OTHERS"
  echo "$backend: seeded in $(( $(date +%s) - started )) s"

  # Sign in as a browser does; wrk then sends the session cookie.
  csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
  token=$(curl -fs -c "$jar" -b "$jar" "$base/login" | csrf)
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d email=bench@bench.test --data-urlencode "password=$PASSWORD" "$base/login"
  cookie="Cookie: sesame_session=$(awk '$6 == "sesame_session" {print $7}' "$jar")"
  list=$(curl -fs -H "$cookie" "$base/tokens")
  grep -q "of 2[0-9]\{3\}" <<<"$list" || { echo "expected thousands of pages" >&2; exit 1; }
  token_id=$(grep -o 'data-label="Name"><a href="/tokens/[0-9a-f-]\{36\}"' <<<"$list" | head -1 | sed 's/.*tokens\///;s/"$//')
  # Searches for one token by part of its name, as an admin looks one up.
  needle=$(grep -o 'synthetic-[A-Za-z0-9_-]*-[0-9]\{7\}' <<<"$list" | head -1 | sed 's/.*-//')
  ended=$(curl -fs -H "$cookie" "$base/tokens/inactive")
  ended_needle=$(grep -o 'synthetic-[A-Za-z0-9_-]*-[0-9]\{7\}' <<<"$ended" | head -1 | sed 's/.*-//')
  member=$(curl -fs -H "$cookie" "$base/users" | grep -o 'member-[a-z0-9]*-[0-9]*@example.invalid' | sed -n 20p)

  # A real token for the check, made through the pages.
  token=$(curl -fs -H "$cookie" "$base/tokens/new" | csrf)
  page=$(curl -fs -H "$cookie" --data-urlencode "csrf_token=$token" -d name=bench-check -d expires_in=30d "$base/tokens")
  username=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  password=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  auth="Authorization: Basic $(printf '%s:%s' "$username" "$password" | base64 -w0)"

  year_ago=$(date -u -d '1 year ago' +%F) today=$(date -u +%F)
  mapfile -t entries < <(page_list)
  for entry in "${entries[@]}"; do
    name=${entry%%|*} path=${entry#*|}
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "$cookie" "$base$path")" = 200 \
      || { echo "$name: $path does not answer 200" >&2; exit 1; }
    figures=$(measure 16 "$base$path" "$cookie")
    pages+=("$backend|$name|$figures")
  done
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base/api/v1/whoami")" = 200
  check=$(measure 64 "$base/api/v1/whoami" "$auth")
  rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  kill "$server"; wait "$server" 2>/dev/null || true
  checks+=("$backend|$check")
  rss+=("$backend|$((rss_kib / 1024))")

  # With the server stopped (its tick would race these): the weekly report of every
  # account, and the daily roll of the usage totals, forced by moving their day back one
  # (a tick without a roll first, as the baseline).
  weekly=$(seconds $sesame digest --once)
  seconds $sesame notify --once >/dev/null
  tick=$(seconds $sesame notify --once)
  if [ "$backend" = postgres ]; then
    psql -q "$SESAME_DATABASE_URL" -c "UPDATE usage_rollup SET day = day - interval '1 day'"
  else
    python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE usage_rollup SET day = datetime(day, '-1 day')\"); c.commit()" "$SESAME_DATA_DIR/sesame.db"
  fi
  rolled=$(seconds $sesame notify --once)
  jobs+=("$backend|$weekly|$tick|$rolled")
done

# The ceiling again at the end: the machine's speed drifts during a long run. Shares are
# of the higher of the two measurements (the conservative one).
hello16_end=$(measure 16 "http://127.0.0.1:$HELLO_PORT/")
hello64_end=$(measure 64 "http://127.0.0.1:$HELLO_PORT/")
higher() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN {print (a > b ? a : b)}'; }
ceiling16=$(higher "$hello16" "$hello16_end") ceiling64=$(higher "$hello64" "$hello64_end")
# Issue 10's 10 ms p50 holds on the reference machine, whose hello-world ceiling at 16
# connections is 100,000 requests/s; a slower run of the same machine class (CI's was 2.2
# times slower in everything, the ceiling included) gets the budget scaled by the ceiling
# measured in this run, never below 10 ms: a ratio, as the shares are.
p50_budget=$(awk -v c="$ceiling16" 'BEGIN {b = 10 * 100000 / c; printf "%.1f", (b < 10 ? 10 : b)}')
for entry in "${pages[@]}"; do
  IFS='|' read -r backend name figures <<<"$entry"
  read -r rps p50 _ _ <<<"$figures"
  share=$(awk -v a="$rps" -v b="$ceiling16" 'BEGIN {printf "%.1f", 100*a/b}')
  report+=("| $backend | $name | $(row "$figures") | $share % |")
  if awk -v s="$share" -v p="$p50" -v b="$p50_budget" 'BEGIN {exit !(s < 2 || p > b)}'; then
    failures+=("$backend $name: $rps requests/s ($share % of hello-world), p50 $p50 ms")
  fi
done
for entry in "${checks[@]}"; do
  IFS='|' read -r backend check <<<"$entry"
  ratio=$(awk -v a="${check%% *}" -v b="$ceiling64" 'BEGIN {printf "%.1f", 100*a/b}')
  report+=("| $backend | token check, 64 connections | $(row "$check") | $ratio % |")
done
for entry in "${jobs[@]}"; do
  IFS='|' read -r backend weekly tick rolled <<<"$entry"
  report+=("| $backend | weekly report of every account (\`sesame digest --once\`) | $weekly s | | | | |")
  report+=("| $backend | a scheduler pass (\`sesame notify --once\`), then one that rolls the usage totals a day | $tick s, $rolled s | | | | |")
done
for entry in "${rss[@]}"; do
  report+=("| ${entry%%|*} | server peak RSS | ${entry#*|} MiB | | | | |")
done

echo
mode=$($SHORT && echo "short mode (CI), " || true)
echo "## Pages, commit $commit, $(date -u +%Y-%m-%d), $mode$(nproc) cores, wrk -t$THREADS -d$DURATION, 100,000 tokens in the account with $USAGE_DAYS days of usage each, $((100000 + OTHERS)) in all"
echo
echo "| backend | page | requests/s | p50 | p99 | non-2xx | share of the ceiling |"
echo "|---|---|---|---|---|---|---|"
echo "| — | hello-world ceiling, 16 connections, at the start | $(row "$hello16") | |"
echo "| — | hello-world ceiling, 16 connections, at the end | $(row "$hello16_end") | |"
echo "| — | hello-world ceiling, 64 connections, at the start | $(row "$hello64") | |"
echo "| — | hello-world ceiling, 64 connections, at the end | $(row "$hello64_end") | |"
printf '%s\n' "${report[@]}"
if $SHORT; then
  echo
  echo "p50 budget in this run: $p50_budget ms (10 ms at a 100,000 requests/s ceiling)"
fi
if $SHORT && [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "Pages under 2 % of the hello-world ceiling or over $p50_budget ms p50 (10 ms scaled to this run's ceiling):" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
