#!/usr/bin/env bash
# A legitimate user's sign-in latency while trustplane is attacked (docs/benchmarks.md,
# "Under attack"). The baseline printed beside each figure is the same user unloaded (A) or
# the same user from a browser trustplane does not know (B).
#   A: one rate-limited attacker address at full speed (64 connections): refused attempts
#      cost no hash and no row; the legitimate p50 should stay within 3x of unloaded.
#   B: 256 attacker connections from random addresses (not rate-limited), unknown accounts:
#      the returning user's browser (device cookie) takes the hashing fast lane; p99 < 1 s.
#
#   scripts/bench-signin-attack.sh            # DURATION=20 SAMPLES=30, release build
#   BIN=target/debug/trustplane scripts/bench-signin-attack.sh
#
# Needs: cargo (or BIN), wrk, curl. Uses port 18441 on 127.0.0.1. Local measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
SAMPLES=${SAMPLES:-30}
PORT=${PORT:-18441}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --locked -p trustplane
  BIN=$PWD/target/release/trustplane
fi
work=$(mktemp -d)
tp_pid=""
cleanup() {
  [ -n "$tp_pid" ] && kill "$tp_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
url=http://127.0.0.1:$PORT

data=$work/data
pw='correct horse battery staple'
echo "$pw" | "$BIN" --data "$data" admin user create alice --password-stdin >/dev/null
token=$("$BIN" --data "$data" admin token create --role security_administrator --expires 1h 2>/dev/null | tail -1)
export TRUSTPLANE_TRUSTED_PROXIES='["127.0.0.1/32"]'
TRUSTPLANE_LOG=warn "$BIN" --data "$data" serve --listen "127.0.0.1:$PORT" >"$work/tp.log" 2>&1 &
tp_pid=$!
for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done

html=$(curl -fsS -c "$work/jar" "$url/login")
export TP_CSRF_TOKEN=$(printf '%s' "$html" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
export TP_CSRF_COOKIE=$(awk '$6=="tp_csrf"{print $7}' "$work/jar")
# A well-formed device cookie (43 characters of base64url; anything else is ignored).
device=$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n" | head -c 43)

# One sign-in as alice from a given address, with or without the device cookie; prints ms.
sign_in() {
  local from=$1 cookie="tp_csrf=$TP_CSRF_COOKIE"
  [ "${2:-}" = known ] && cookie="$cookie; tp_device=$device"
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -b "$cookie" -H "x-forwarded-for: $from" \
    --data "csrf_token=$TP_CSRF_TOKEN&username=alice&password=correct+horse+battery+staple" "$url/login"
}
# SAMPLES sign-ins in a row; prints "p50 p99 (ms) failures".
sample() {
  local i out
  out=$work/samples
  : >"$out"
  for i in $(seq 1 "$SAMPLES"); do sign_in "$@" >>"$out"; done
  awk '{ if ($1 != 303) f++; print $2 * 1000 }' "$out" | sort -n | awk -v n="$SAMPLES" '
    { v[NR] = $1 } END { p50 = v[int((n + 1) / 2)]; i99 = int(n * 0.99 + 0.999); if (i99 > n) i99 = n;
      printf "%.1f %.1f\n", p50, v[i99] }'
  awk '$1 != 303 { f++ } END { printf "failures %d\n", f + 0 }' "$out" >&2
}
attack() { wrk -t2 -c"$1" -d"${DURATION}s" --timeout 10s -s bench/attack.lua "$url/login" | grep '^attacker'; }
rows() {
  curl -fsS -H "authorization: Bearer $token" "$url/api/v1/sign-ins/export?format=jsonl" | wc -l
}

# The device cookie becomes known by one successful sign-in with it.
[ "$(sign_in 198.51.100.1 known | cut -d' ' -f1)" = 303 ] || { echo "sign-in check failed" >&2; exit 1; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"
read -r u50 u99 < <(sample 198.51.100.1 known)
echo "unloaded: alice p50 $u50 ms, p99 $u99 ms"

echo "== A: one rate-limited attacker address, 64 connections, ${DURATION}s"
before=$(rows)
TP_XFF=203.0.113.7 attack 64 &
apid=$!
sleep 2
read -r a50 a99 < <(sample 198.51.100.2)
wait "$apid"
sleep 1
echo "alice p50 $a50 ms (unloaded $u50 ms, ratio $(awk -v a="$a50" -v b="$u50" 'BEGIN{printf "%.2f", a/b}'); goal <= 3), p99 $a99 ms"
echo "sign-in log rows written during A: $(( $(rows) - before )) (refused attempts are logged once per address and minute)"

echo "== B: 256 connections from random addresses, unknown accounts, ${DURATION}s"
TP_XFF= attack 256 &
apid=$!
sleep 3
read -r k50 k99 < <(sample 198.51.100.3 known)
read -r n50 n99 < <(sample 198.51.100.4)
wait "$apid"
echo "alice, known browser:   p50 $k50 ms, p99 $k99 ms (goal p99 < 1000 ms)"
echo "alice, unknown browser: p50 $n50 ms, p99 $n99 ms (baseline: the normal lane)"
