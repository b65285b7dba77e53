#!/usr/bin/env bash
# Resident memory of the server under password sign-ins (docs/benchmarks.md, "Memory"):
# idle, after 2,000 sign-ins (half a known user with the right password, half unknown users),
# and after another 2,000 (must be flat). Prints the floor beside it (idle + one Argon2
# buffer per hashing worker) and fails when RSS exceeds MAX_RSS_MB. A CI regression check:
# it reports timings but asserts only the memory ceiling.
#
#   scripts/bench-memory.sh                 # debug build (Argon2 is optimised in dev too)
#   PROFILE=release scripts/bench-memory.sh
#   SIGN_INS=2000 CONNECTIONS=8 MAX_RSS_MB=150 scripts/bench-memory.sh
#
# Needs: cargo (or BIN=path/to/trustplane), curl, xargs. Uses port 18440 on 127.0.0.1.
# (Not wrk: Debian's wrk 4.1 keeps running for its whole -d duration after every thread
# stopped itself, which made an earlier version of this script report 3 sign-ins/s.)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
SIGN_INS=${SIGN_INS:-2000}
CONNECTIONS=${CONNECTIONS:-8}
MAX_RSS_MB=${MAX_RSS_MB:-150}
PORT=${PORT:-18440}
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then
    cargo build --release -q --locked -p trustplane
  else
    cargo build -q --locked -p trustplane
  fi
  BIN=$PWD/target/$PROFILE/trustplane
fi
work=$(mktemp -d)
tp_pid=""
cleanup() {
  [ -n "$tp_pid" ] && kill "$tp_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export TRUSTPLANE_RATE_LIMIT__SIGN_IN_PER_IP_PER_MINUTE=100000000
export TRUSTPLANE_RATE_LIMIT__FAILURES_PER_ACCOUNT=100000000
data=$work/data
echo 'correct horse battery staple' | "$BIN" --data "$data" admin user create bench --password-stdin >/dev/null
TRUSTPLANE_LOG=warn "$BIN" --data "$data" serve --listen "127.0.0.1:$PORT" >"$work/tp.log" 2>&1 &
tp_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

jar=$work/jar
html=$(curl -fsS -c "$jar" "http://127.0.0.1:$PORT/login")
export TP_CSRF_TOKEN=$(printf '%s' "$html" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
export TP_CSRF_COOKIE=$(awk '$6=="tp_csrf"{print $7}' "$jar")
code=$(curl -s -o /dev/null -w '%{http_code}' -b "tp_csrf=$TP_CSRF_COOKIE" \
  --data "csrf_token=$TP_CSRF_TOKEN&username=bench&password=correct+horse+battery+staple" \
  "http://127.0.0.1:$PORT/login")
[ "$code" = 303 ] || { echo "sign-in check failed: HTTP $code" >&2; exit 1; }

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$tp_pid/status"; }
workers=$(nproc)
idle=$(rss_mb)
# One round: SIGN_INS sign-ins over CONNECTIONS parallel curl loops, alternating the known
# user with the right password and unknown users; prints statuses, rate, p50 and p99.
round() {
  local tag=$1 out=$work/round-$1.txt start end
  start=$(date +%s.%N)
  seq 1 "$SIGN_INS" | xargs -P "$CONNECTIONS" -I{} sh -c '
    i=$1
    if [ $((i % 2)) -eq 0 ]; then body="username=bench&password=correct+horse+battery+staple"
    else body="username=nobody'"$tag"'x$i&password=wrong+guess"; fi
    curl -s -o /dev/null -w "%{http_code} %{time_total}\n" -b "tp_csrf=$TP_CSRF_COOKIE" \
      --data "csrf_token=$TP_CSRF_TOKEN&$body" "$2"' _ {} "http://127.0.0.1:$PORT/login" >"$out"
  end=$(date +%s.%N)
  sort -k2 -n "$out" | awk -v s="$start" -v e="$end" '
    { code[$1]++; t[NR] = $2 }
    END {
      for (c in code) parts = parts c ":" code[c] " "
      p50 = t[int(NR * 0.5) > 0 ? int(NR * 0.5) : 1]; p99 = t[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
      printf "responses %d (%s), %.1f sign-ins/s, p50 %.1f ms, p99 %.1f ms\n", NR, parts, NR / (e - s), p50 * 1000, p99 * 1000
    }'
}
echo "trustplane $PROFILE build, $workers hashing workers (one per core), $CONNECTIONS connections"
echo "RSS idle (after one sign-in): $idle MB"
round 1
after1=$(rss_mb)
echo "RSS after $SIGN_INS sign-ins: $after1 MB"
round 2
after2=$(rss_mb)
echo "RSS after $((2 * SIGN_INS)) sign-ins: $after2 MB"
floor=$(awk -v i="$idle" -v w="$workers" 'BEGIN { printf "%.1f", i + w * 19 }')
echo "baseline: floor idle + $workers x 19 MiB Argon2 buffers = $floor MB; before the hashing pool (issue 13): ~800-900 MB after 2,000"
awk -v a="$after1" -v b="$after2" -v max="$MAX_RSS_MB" 'BEGIN {
  if (a > max || b > max) { printf "FAIL: RSS above %d MB\n", max; exit 1 }
  printf "ok: RSS at most %d MB (growth over the second %s: %.1f MB)\n", max, "run", b - a
}'
