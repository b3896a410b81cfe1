#!/usr/bin/env bash
# A/B page benchmark: two builds of sesame serve copies of one seeded SQLite database, and
# wrk measures every page on one, then the other, in turns (ROUNDS times), so that both
# meet the same machine noise. For a change that must not move the figures (a refactor),
# a ratio measured this way is worth more than two runs of bench/pages.sh minutes apart.
#
# Usage: BEFORE=/path/to/old/target/release/sesame BEFORE_LABEL=abc1234 [BACKEND=postgres] bench/ab.sh
#        (AFTER defaults to this tree's release build; ROUNDS=3, DURATION=4s a measure;
#        PAGES=0 measures only the token check)
# Prints, per page and for the token check (/api/v1/whoami with a valid token, at 64
# connections), the median requests/s of each build and AFTER / BEFORE.
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/page_list.sh
: "${BEFORE:?set BEFORE to the sesame binary to compare with}"
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-4s} WARMUP=1s THREADS=2
PORT_A=18193 PORT_B=18194
PASSWORD="plum-Orbit-lantern-42-gravel"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin sesame
AFTER=${AFTER:-./target/release/sesame}
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && commit="$commit-dirty"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# requests/s of one measure (after an uncounted warm-up). Arguments: url, header,
# connections (16 unless given).
rps() {
  local connections=${3:-16}
  wrk -t$THREADS -c"$connections" -d"$WARMUP" -H "$2" "$1" >/dev/null
  wrk -t$THREADS -c"$connections" -d"$DURATION" -H "$2" "$1" | awk '/^Requests\/sec/ {printf "%.0f", $2}'
}

# One database, seeded once by the older build, copied for the other (no server holds it
# yet); AFTER applies its own migrations to its copy when it starts, as an upgrade would.
# BACKEND=postgres: two databases on the server at SESAME_BENCH_POSTGRES, the second made
# from the first as a template.
export SESAME_LOG=warn
BACKEND=${BACKEND:-sqlite}
PG=${SESAME_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$work/a" "$work/b"
if [ "$BACKEND" = postgres ]; then
  # Seeded once into a third database; both builds get a template copy of it, so neither
  # serves the original (an A/A run of one binary on original and copy measured the
  # Dashboard 46 % apart: the copies must be alike).
  command -v psql >/dev/null || { echo "psql is needed for BACKEND=postgres" >&2; exit 1; }
  dbs="sesame_ab_seed sesame_ab_a sesame_ab_b"
  for db in $dbs; do psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
  psql -q "$PG/postgres" -c "CREATE DATABASE sesame_ab_seed"
  url_seed="$PG/sesame_ab_seed" url_a="$PG/sesame_ab_a" url_b="$PG/sesame_ab_b"
  cleanup() {
    kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"
    for db in $dbs; do
      psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true
    done
  }
  trap cleanup EXIT
else
  url_seed="sqlite://$work/a/sesame.db" url_a="sqlite://$work/a/sesame.db" url_b="sqlite://$work/b/sesame.db"
fi
SESAME_DATA_DIR="$work/a" SESAME_DATABASE_URL="$url_seed" "$BEFORE" seed --account Bench \
  --tokens 100000 --events 300000 --notices 100000 --users 10000 >/dev/null
echo "$PASSWORD" | SESAME_DATA_DIR="$work/a" SESAME_DATABASE_URL="$url_seed" "$BEFORE" user add \
  --account Bench --email bench@bench.test --role admin >/dev/null
# The data directory (on SQLite the database too; always the server key) is copied.
cp -a "$work/a/." "$work/b/"
if [ "$BACKEND" = postgres ]; then
  psql -q "$PG/postgres" -c "CREATE DATABASE sesame_ab_a TEMPLATE sesame_ab_seed"
  psql -q "$PG/postgres" -c "CREATE DATABASE sesame_ab_b TEMPLATE sesame_ab_seed"
fi
SESAME_DATA_DIR="$work/a" SESAME_DATABASE_URL="$url_a" SESAME_BIND="127.0.0.1:$PORT_A" \
  "$AFTER" serve 2>"$work/a.log" &
pids+=($!)
SESAME_DATA_DIR="$work/b" SESAME_DATABASE_URL="$url_b" SESAME_BIND="127.0.0.1:$PORT_B" \
  "$BEFORE" serve 2>"$work/b.log" &
pids+=($!)

csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
# The session cookie of a signed-in admin of the server at port $1.
sign_in() {
  local base="http://127.0.0.1:$1" jar="$work/$1.jar" token
  for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  token=$(curl -fs -c "$jar" -b "$jar" "$base/login" | csrf)
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d email=bench@bench.test --data-urlencode "password=$PASSWORD" "$base/login"
  echo "Cookie: sesame_session=$(awk '$6 == "sesame_session" {print $7}' "$jar")"
}
cookie_a=$(sign_in $PORT_A) cookie_b=$(sign_in $PORT_B)

# The Authorization header of a token made through the pages of the server at port $1.
make_token() {
  local base="http://127.0.0.1:$1" token page username password
  token=$(curl -fs -H "$2" "$base/tokens/new" | csrf)
  page=$(curl -fs -H "$2" --data-urlencode "csrf_token=$token" -d name=ab-check -d expires_in=30d "$base/tokens")
  username=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  password=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  echo "Authorization: Basic $(printf '%s:%s' "$username" "$password" | base64 -w0)"
}
auth_a=$(make_token $PORT_A "$cookie_a") auth_b=$(make_token $PORT_B "$cookie_b")

# The same paths on both: the copies hold the same ids.
base_a="http://127.0.0.1:$PORT_A"
list=$(curl -fs -H "$cookie_a" "$base_a/tokens")
token_id=$(grep -o 'data-label="Name"><a href="/tokens/[0-9a-f-]\{36\}"' <<<"$list" | head -1 | sed 's/.*tokens\///;s/"$//')
needle=$(grep -o 'synthetic-[A-Za-z0-9_-]*-[0-9]\{7\}' <<<"$list" | head -1 | sed 's/.*-//')
ended=$(curl -fs -H "$cookie_a" "$base_a/tokens/inactive")
ended_needle=$(grep -o 'synthetic-[A-Za-z0-9_-]*-[0-9]\{7\}' <<<"$ended" | head -1 | sed 's/.*-//')
member=$(curl -fs -H "$cookie_a" "$base_a/users" | grep -o 'member-[a-z0-9]*-[0-9]*@example.invalid' | sed -n 20p)
year_ago=$(date -u -d '1 year ago' +%F) today=$(date -u +%F)

median() { tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "## A/B pages, $commit (after) against ${BEFORE_LABEL:-$BEFORE} (before), $(date -u +%Y-%m-%d), $(nproc) cores, $BACKEND, 100,000 tokens, $ROUNDS rounds of wrk -t$THREADS -c16 -d$DURATION in turns"
echo
echo "| page | before, requests/s | after, requests/s | after / before |"
echo "|---|---|---|---|"
ratios=()
entries=()
[ "${PAGES:-1}" = 0 ] || mapfile -t entries < <(page_list)
for entry in "${entries[@]}"; do
  name=${entry%%|*} path=${entry#*|}
  for port_cookie in "$PORT_A|$cookie_a" "$PORT_B|$cookie_b"; do
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "${port_cookie#*|}" "http://127.0.0.1:${port_cookie%%|*}$path")" = 200 \
      || { echo "$name: $path does not answer 200 on port ${port_cookie%%|*}" >&2; exit 1; }
  done
  a=() b=()
  for _ in $(seq "$ROUNDS"); do
    a+=("$(rps "http://127.0.0.1:$PORT_A$path" "$cookie_a")")
    b+=("$(rps "http://127.0.0.1:$PORT_B$path" "$cookie_b")")
  done
  ma=$(echo "${a[*]}" | median) mb=$(echo "${b[*]}" | median)
  ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')
  ratios+=("$ratio")
  echo "| $name | $mb | $ma | $ratio |"
done
# The token check, in turns too; which build goes first alternates by round. Besides
# requests/s (wrk shares the two cores with the server, which makes it noisy), the
# server's own CPU time per check: user + system ticks over the requests answered.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "requests/s µs-of-CPU-per-check" of one measure. Arguments: port, header, server pid.
check() {
  local url="http://127.0.0.1:$1/api/v1/whoami" before after out rps
  wrk -t$THREADS -c64 -d"$WARMUP" -H "$2" "$url" >/dev/null
  before=$(cpu_ticks "$3")
  out=$(wrk -t$THREADS -c64 -d"$DURATION" -H "$2" "$url")
  after=$(cpu_ticks "$3")
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  awk -v r="$rps" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="${DURATION%s}" \
    'BEGIN {printf "%s %.2f", r, 1e6 * t / hz / (r * s)}'
}
a=() b=() a_cpu=() b_cpu=()
for round in $(seq "$ROUNDS"); do
  for side in $([ $((round % 2)) = 1 ] && echo "a b" || echo "b a"); do
    if [ "$side" = a ]; then
      read -r r c <<<"$(check $PORT_A "$auth_a" "${pids[0]}")"; a+=("$r"); a_cpu+=("$c")
    else
      read -r r c <<<"$(check $PORT_B "$auth_b" "${pids[1]}")"; b+=("$r"); b_cpu+=("$c")
    fi
  done
done
ma=$(echo "${a[*]}" | median) mb=$(echo "${b[*]}" | median)
ca=$(echo "${a_cpu[*]}" | median) cb=$(echo "${b_cpu[*]}" | median)
echo "| token check, 64 connections, requests/s | $mb | $ma | $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", a / b}') |"
echo "| token check, server CPU per check (µs; lower is better) | $cb | $ca | $(awk -v a="$ca" -v b="$cb" 'BEGIN {printf "%.3f", a / b}') |"
echo
echo "Token check rounds, before: ${b[*]} requests/s, ${b_cpu[*]} µs; after: ${a[*]} requests/s, ${a_cpu[*]} µs"
if [ ${#ratios[@]} -gt 0 ]; then
  echo
  echo "Median of the pages' after / before: $(echo "${ratios[*]}" | median)"
fi
