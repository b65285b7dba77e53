#!/usr/bin/env bash
# Load test of GET /forward-auth with wrk (docs/benchmarks.md, "Forward-auth"): a release build
# of trustplane on SQLite, one signed-in session, a warm decision cache; then nginx in front of
# a static upstream without auth_request and with it (docs/proxy/nginx.conf, upstream keepalive),
# and the number of new TCP connections nginx opened to trustplane per 100 requests.
# Local measurement only: never run in CI.
#
#   scripts/bench-forward-auth.sh            # DURATION=15s THREADS=2 CONNECTIONS=64
#
# Needs: cargo, wrk, nginx, curl. Uses ports 18420-18433 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
TP=127.0.0.1:18420
NGX_AUTH=18431
NGX_PLAIN=18432
UPSTREAM=18433
NGINX=${NGINX:-/usr/sbin/nginx}

# PROFILE=debug measures the debug build (no release build needed; slower, say so).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release -q -p trustplane
else
  cargo build -q -p trustplane
fi
BIN=$PWD/target/$PROFILE/trustplane
work=$(mktemp -d)
tp_pid=""
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  [ -n "$tp_pid" ] && kill "$tp_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  exit 1
}

data=$work/data
pw='a long bench passphrase 4711'
"$BIN" --data "$data" admin user create alice --email alice@example.com --password-stdin <<<"$pw" >/dev/null
token=$("$BIN" --data "$data" admin token create --role security_administrator --expires 1h 2>/dev/null | tail -1)
# nginx asks from loopback: the only trusted proxy.
printf '[forward_auth]\ntrusted_proxies = ["127.0.0.1/32"]\n' >"$work/tp.toml"
TRUSTPLANE_LOG=warn "$BIN" --config "$work/tp.toml" --data "$data" serve --listen "$TP" >"$work/tp.log" 2>&1 &
tp_pid=$!
wait_port "$TP"

api() { curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' "$@" >/dev/null; }
api -X POST "http://$TP/api/v1/applications" -d '{"id":"bench","name":"Bench"}'
api -X POST "http://$TP/api/v1/applications/bench/routes" -d "{\"host\":\"127.0.0.1:$NGX_AUTH\",\"path_prefix\":\"/\"}"

# Sign in like a browser: CSRF cookie and token from the form, then the password.
jar=$work/cookies
csrf=$(curl -fsS -c "$jar" "http://$TP/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -fsS -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf_token=$csrf" \
  --data-urlencode username=alice --data-urlencode "password=$pw" "http://$TP/login"
session=$(awk '$6 == "tp_session" { print $7 }' "$jar")
[ -n "$session" ] || { echo "sign-in failed" >&2; exit 1; }

# The endpoint alone must answer 200 before it is measured.
check() {
  curl -s -o /dev/null -w '%{http_code}' -H "cookie: tp_session=$session" \
    -H "x-original-url: http://127.0.0.1:$NGX_AUTH/index.html" "http://$TP/forward-auth"
}
[ "$(check)" = 200 ] || { echo "forward-auth refused the session" >&2; exit 1; }

mkdir -p "$work/nginx"
# nginx with auth_request: exactly docs/proxy/nginx.conf (addresses replaced), as the tests run it.
sed -e "s/127.0.0.1:8420/$TP/g" -e "s/127.0.0.1:9000/127.0.0.1:$UPSTREAM/g" \
  -e "s/listen 80;/listen 127.0.0.1:$NGX_AUTH;/" -e "s/wiki.example.com/127.0.0.1:$NGX_AUTH/g" \
  docs/proxy/nginx.conf >"$work/nginx/site.conf"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    # The static upstream (the application).
    server {
        listen 127.0.0.1:$UPSTREAM;
        location / { return 200 "hello\n"; }
    }
    # Plain nginx: the same proxying to the application, without auth_request.
    server {
        listen 127.0.0.1:$NGX_PLAIN;
        location / {
            proxy_pass http://127.0.0.1:$UPSTREAM;
        }
    }
    include $work/nginx/site.conf;
}
CONF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
wait_port "127.0.0.1:$NGX_AUTH"

# Connections to trustplane: those nginx closed (TIME_WAIT on nginx's side) plus those open.
tp_port=${TP#*:}
tp_conns() {
  local tw est
  tw=$(ss -Htan state time-wait "( dport = :$tp_port )" | wc -l)
  est=$(ss -Htan state established "( dport = :$tp_port )" | wc -l)
  echo $((tw + est))
}

run() {
  local name=$1
  shift
  echo "== $name"
  wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" |
    grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors'
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"
# Warm-up, then the measurements.
wrk -t1 -c4 -d2s -H "cookie: tp_session=$session" -H "x-original-url: http://127.0.0.1:$NGX_AUTH/index.html" "http://$TP/forward-auth" >/dev/null
if [ -n "${PERF:-}" ]; then
  # Profile trustplane during the first measurement: PERF=1 scripts/bench-forward-auth.sh
  perf record -q -F 499 -g -p "$tp_pid" -o "$work/perf.data" -- sleep 5 2>/dev/null &
fi
run "/forward-auth alone" -H "cookie: tp_session=$session" \
  -H "x-original-url: http://127.0.0.1:$NGX_AUTH/index.html" "http://$TP/forward-auth"
run "nginx -> static upstream (no auth_request)" "http://127.0.0.1:$NGX_PLAIN/index.html"
before=$(tp_conns)
out=$(wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "cookie: tp_session=$session" \
  "http://127.0.0.1:$NGX_AUTH/index.html")
after=$(tp_conns)
echo "== nginx auth_request -> trustplane, -> static upstream"
echo "$out" | grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors'
total=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
new=$((after - before))
echo "new connections to trustplane: $new for $total requests ($(awk -v n="$new" -v t="$total" 'BEGIN { printf "%.2f", 100 * n / t }') per 100 requests)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${PERF:-}" ]; then
  perf report -q -i "$work/perf.data" --no-children --percent-limit 1.5 --stdio -g none 2>/dev/null | head -40
fi
