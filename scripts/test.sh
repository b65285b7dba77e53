#!/usr/bin/env bash
# The whole test suite: unit, property, store (SQLite + PostgreSQL), server integration, CLI,
# and browser tests. Needs: PostgreSQL reachable at $TRUSTPLANE_TEST_DATABASE_URL, Debian
# chromium, Node.js. `.ci/run` installs and starts all of that on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# MaxMind's GeoIP2 country test database (public test data shipped in the source
# distribution of the `maxminddb` PyPI package) for the country-condition tests.
if [ -z "${TRUSTPLANE_TEST_GEOIP:-}" ]; then
  geo=target/test-data/GeoIP2-Country-Test.mmdb
  if [ ! -f "$geo" ]; then
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-binary :all: --no-deps --dest "$tmp" 'maxminddb==3.2.0'
    mkdir -p target/test-data
    tar -xzf "$tmp"/maxminddb-3.2.0.tar.gz -C "$tmp"
    cp "$tmp"/maxminddb-3.2.0/tests/data/test-data/GeoIP2-Country-Test.mmdb "$geo"
    rm -rf "$tmp"
  fi
  export TRUSTPLANE_TEST_GEOIP="$PWD/$geo"
fi

# Unit, property, store (SQLite + PostgreSQL), server integration and CLI tests: one nextest
# run over every test binary (each test in its own process), then the doctests nextest skips.
if command -v cargo-nextest >/dev/null 2>&1; then
  profile=default
  [ "${CI:-}" = "true" ] && profile=ci
  cargo nextest run --workspace --locked --profile "$profile"
  cargo test --workspace --locked --doc
else
  echo "cargo-nextest not found; running cargo test (install: cargo install cargo-nextest --locked)" >&2
  cargo test --workspace --locked
fi

# Browser tests drive the real binary through headless Chromium (Playwright).
# The test build above already built the binary (the CLI tests run it); building `-p trustplane`
# alone would compile tokio, sqlx and others again with a different feature set.
[ -x target/debug/trustplane ] || cargo build -p trustplane --locked
(
  cd tests/e2e
  npm ci --no-audit --no-fund --loglevel=error
  TRUSTPLANE_BIN="$PWD/../../target/debug/trustplane" npm test
)
