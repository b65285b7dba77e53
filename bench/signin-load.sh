#!/usr/bin/env bash
# Password sign-ins per second through the real login form (POST /login, Argon2id at the
# default OWASP parameters, session and sign-in log written to SQLite), with wrk on loopback.
# Usage: bench/signin-load.sh [duration-seconds] [connections]   (needs: wrk, a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-20}
conns=${2:-4}
bin=target/release/trustplane
[ -x "$bin" ] || cargo build --release -p trustplane
data=$(mktemp -d)
port=18420
export TRUSTPLANE_RATE_LIMIT__SIGN_IN_PER_IP_PER_MINUTE=100000000
echo 'correct horse battery staple' | "$bin" --data "$data" admin user create bench --password-stdin >/dev/null
"$bin" --data "$data" serve --listen 127.0.0.1:$port >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
jar=$(mktemp)
html=$(curl -s -c "$jar" "http://127.0.0.1:$port/login")
export TP_CSRF_TOKEN=$(printf '%s' "$html" | grep -o 'name="csrf_token" value="[^"]*"' | sed 's/.*value="//;s/"$//')
export TP_CSRF_COOKIE=$(awk '$6=="tp_csrf"{print $7}' "$jar")
rm -f "$jar"
# One manual sign-in first: it must succeed (303), or the numbers mean nothing.
code=$(curl -s -o /dev/null -w '%{http_code}' -b "tp_csrf=$TP_CSRF_COOKIE" \
  --data "csrf_token=$TP_CSRF_TOKEN&username=bench&password=correct+horse+battery+staple" \
  "http://127.0.0.1:$port/login")
[ "$code" = 303 ] || { echo "sign-in check failed: HTTP $code" >&2; exit 1; }
wrk -t2 -c"$conns" -d"${dur}s" --latency -s bench/login.lua "http://127.0.0.1:$port/login"
