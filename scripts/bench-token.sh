#!/usr/bin/env bash
# Token endpoint load test (docs/benchmarks.md, "Token endpoint"): trustplane (release build,
# SQLite) against the certified peer, npm `oidc-provider` (tests/bench-peer, OpenID Certified),
# side by side on this machine. Both issue ES256 JWT access tokens (typ at+jwt) for
# client_credentials with HTTP Basic client authentication. Then introspection: trustplane
# introspects its JWT access token; oidc-provider cannot introspect its JWT access tokens
# ("Structured JWT Tokens cannot be introspected"), so it introspects an opaque access token
# of a second client (its fastest introspection).
#
#   scripts/bench-token.sh        # RUNS=3 DURATION=10s CONNECTIONS=16 THREADS=2
#
# Needs: cargo, wrk, curl, node/npm. Uses ports 18440-18441 on 127.0.0.1. Local measurement
# only: never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
TP=127.0.0.1:18440
PEER=127.0.0.1:18441

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p trustplane
  BIN=$PWD/target/release/trustplane
fi
(cd tests/bench-peer && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d)
tp_pid=""
peer_pid=""
cleanup() {
  [ -n "$tp_pid" ] && kill "$tp_pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
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

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined){console.error(s);process.exit(1)}console.log(v)})' "$1"; }

# trustplane: an application, a confidential client-credentials client.
data=$work/data
"$BIN" --data "$data" apps create bench --name Bench >/dev/null
tp_secret=$("$BIN" --data "$data" oidc clients create --name Bench --app bench --client-id bench \
  --grant-type client_credentials --scope api.read 2>/dev/null | sed -n 's/^client_secret: //p')
[ -n "$tp_secret" ] || { echo "cannot create the trustplane client" >&2; exit 1; }
TRUSTPLANE_LOG=warn "$BIN" --data "$data" serve --listen "$TP" >"$work/tp.log" 2>&1 &
tp_pid=$!

peer_secret=bench-peer-secret-$RANDOM$RANDOM$RANDOM
node tests/bench-peer/server.js "${PEER#*:}" bench "$peer_secret" >"$work/peer.log" 2>&1 &
peer_pid=$!
wait_port "$TP"
wait_port "$PEER"

basic() { printf '%s' "$1:$2" | base64 -w0; }
tp_auth=$(basic bench "$tp_secret")
peer_auth=$(basic bench "$peer_secret")
peer_opaque_auth=$(basic bench-opaque "$peer_secret")

# One token of each for the introspection runs (and a check that both answer 200).
grant() { curl -fsS -H "authorization: Basic $2" -d grant_type=client_credentials -d scope=api.read "http://$1$3"; }
tp_at=$(grant "$TP" "$tp_auth" /oauth2/token | json_field access_token)
peer_at=$(grant "$PEER" "$peer_auth" /token | json_field access_token)
peer_opaque=$(grant "$PEER" "$peer_opaque_auth" /token | json_field access_token)
for t in "$tp_at" "$peer_at"; do
  typ=$(node -e 'console.log(JSON.parse(Buffer.from(process.argv[1].split(".")[0], "base64url")).typ)' "$t")
  [ "$typ" = "at+jwt" ] || { echo "not an at+jwt access token: $t" >&2; exit 1; }
done
intro() { curl -fsS -H "authorization: Basic $2" --data-urlencode "token=$3" "http://$1$4" | json_field active; }
[ "$(intro "$TP" "$tp_auth" "$tp_at" /oauth2/introspect)" = true ]
[ "$(intro "$PEER" "$peer_opaque_auth" "$peer_opaque" /token/introspection)" = true ]

lua() { # $1 file, $2 basic credentials, $3 body
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = "$3"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $2"
LUA
}
urlenc() { node -e 'console.log(encodeURIComponent(process.argv[1]))' "$1"; }
lua "$work/tp-grant.lua" "$tp_auth" "grant_type=client_credentials&scope=api.read"
lua "$work/peer-grant.lua" "$peer_auth" "grant_type=client_credentials&scope=api.read"
lua "$work/tp-intro.lua" "$tp_auth" "token=$(urlenc "$tp_at")"
lua "$work/peer-intro.lua" "$peer_opaque_auth" "token=$(urlenc "$peer_opaque")"

# wrk: requests/s, p99 (ms), and non-2xx answers.
measure() { # $1 lua, $2 url
  local out rps p99 bad
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$1" "$2")
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 } printf "%.1f", v }' <<<"$out")
  bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  echo "$rps ${p99:-?} ${bad:-0}"
}

printf 'trustplane vs oidc-provider %s, %s connections, %s threads, %s per run\n' \
  "$(node -p 'require("./tests/bench-peer/node_modules/oidc-provider/package.json").version')" \
  "$CONNECTIONS" "$THREADS" "$DURATION"
printf '%-4s %-34s %10s %9s %8s\n' run measurement 'req/s' 'p99 ms' 'non-2xx'
for run in $(seq 1 "$RUNS"); do
  for m in "tp-grant trustplane client_credentials (JWT) http://$TP/oauth2/token" \
           "peer-grant oidc-provider client_credentials (JWT) http://$PEER/token" \
           "tp-intro trustplane introspection (JWT) http://$TP/oauth2/introspect" \
           "peer-intro oidc-provider introspection (opaque) http://$PEER/token/introspection"; do
    set -- $m
    name=$1; url=${!#}; label=${m#"$name "}; label=${label%" $url"}
    read -r rps p99 bad < <(measure "$work/$name.lua" "$url")
    printf '%-4s %-34s %10s %9s %8s\n' "$run" "$label" "$rps" "$p99" "$bad"
  done
done
