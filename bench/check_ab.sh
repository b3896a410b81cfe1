#!/usr/bin/env bash
# The token check before and after a change, in the same run: the release binary of BASE
# (a commit) and of the work tree each serve their own SQLite database of 10,000 tokens;
# wrk calls /api/v1/whoami with a valid token on one, then the other, ROUNDS times,
# alternating, so drift of the machine's speed falls on both alike.
# Usage: bench/check_ab.sh BASE      e.g. bench/check_ab.sh 35344b4
#        ROUNDS=4 DURATION=10s (the defaults)
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
base_commit=${1:?"usage: bench/check_ab.sh BASE-COMMIT"}
ROUNDS=${ROUNDS:-4} DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
PASSWORD="plum-Orbit-lantern-42-gravel"
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  git worktree remove --force "$work/base-tree" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Both binaries from one target directory: only the crate itself is rebuilt for each.
target=$(pwd)/target
git worktree add --quiet --detach "$work/base-tree" "$base_commit"
(cd "$work/base-tree" && CARGO_TARGET_DIR="$target" cargo build --release --quiet --bin sesame)
cp "$target/release/sesame" "$work/sesame-base"
cargo build --release --quiet --bin sesame
cp "$target/release/sesame" "$work/sesame-new"
head_commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && head_commit="$head_commit-dirty"

# Starts one server with its own data; prints the Authorization header of a real token.
start() { # name port
  local name=$1 port=$2 bin=$work/sesame-$1 dir=$work/$1
  export SESAME_DATA_DIR=$dir SESAME_BIND=127.0.0.1:$port SESAME_LOG=warn
  "$bin" seed --account Bench --tokens 10000 >/dev/null
  echo "$PASSWORD" | "$bin" user add --account Bench --email bench@bench.test --role admin >/dev/null
  "$bin" serve 2>"$work/$name.log" &
  pids+=($!)
  echo $! >"$work/$name.pid"
  local url=http://127.0.0.1:$port jar=$work/$name.jar token page username password
  for _ in $(seq 50); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
  csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
  token=$(curl -fs -c "$jar" -b "$jar" "$url/login" | csrf)
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d email=bench@bench.test --data-urlencode "password=$PASSWORD" "$url/login"
  token=$(curl -fs -c "$jar" -b "$jar" "$url/tokens/new" | csrf)
  page=$(curl -fs -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" -d name=bench -d expires_in=30d "$url/tokens")
  username=$(grep -o 'id="token-username"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  password=$(grep -o 'id="token-password"[^>]*>[^<]*' <<<"$page" | sed 's/.*>//')
  echo "Authorization: Basic $(printf '%s:%s' "$username" "$password" | base64 -w0)" >"$work/$name.auth"
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "$(cat "$work/$name.auth")" "$url/api/v1/whoami")" = 200
}
start base 18201
start new 18202

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
# requests/s, p50, and the server's CPU per check in µs.
measure() { # name port
  local pid out before after rps p50
  pid=$(cat "$work/$1.pid")
  wrk -t2 -c64 -d2s -H "$(cat "$work/$1.auth")" "http://127.0.0.1:$2/api/v1/whoami" >/dev/null
  before=$(cpu_ticks "$pid")
  out=$(wrk -t2 -c64 -d"$DURATION" --latency -H "$(cat "$work/$1.auth")" "http://127.0.0.1:$2/api/v1/whoami")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  grep -q "Non-2xx" <<<"$out" && { echo "$1: non-2xx answers" >&2; exit 1; }
  awk -v r="$rps" -v p="$p50" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="${DURATION%s}" \
    'BEGIN {printf "%.0f %s %.1f", r, p, 1e6 * t / hz / (r * s)}'
}

echo
echo "## Token check, $base_commit (before) against $head_commit (after), $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 -c64 -d$DURATION, 10,000 tokens on SQLite"
echo
echo "| round | before: requests/s | p50 | CPU per check | after: requests/s | p50 | CPU per check | after / before |"
echo "|---|---|---|---|---|---|---|---|"
base_all=() new_all=()
for round in $(seq "$ROUNDS"); do
  # Alternate which goes first, so neither always meets the machine warmer.
  if [ $((round % 2)) = 1 ]; then
    b=$(measure base 18201); n=$(measure new 18202)
  else
    n=$(measure new 18202); b=$(measure base 18201)
  fi
  read -r b_rps b_p50 b_cpu <<<"$b"
  read -r n_rps n_p50 n_cpu <<<"$n"
  base_all+=("$b_rps") new_all+=("$n_rps")
  ratio=$(awk -v a="$n_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", a/b}')
  echo "| $round | $b_rps | $b_p50 | $b_cpu µs | $n_rps | $n_p50 | $n_cpu µs | $ratio |"
done
sum() { printf '%s\n' "$@" | awk '{s += $1} END {print s}'; }
total=$(awk -v a="$(sum "${new_all[@]}")" -v b="$(sum "${base_all[@]}")" 'BEGIN {printf "%.3f", a/b}')
echo
echo "after / before over all rounds: $total (the target: at least 0.95)"
