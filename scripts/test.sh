#!/usr/bin/env bash
# The whole test suite: unit, property, store (SQLite + PostgreSQL), server integration, CLI,
# and browser tests. Needs: PostgreSQL reachable at $TRUSTPLANE_TEST_DATABASE_URL, Debian
# chromium, Node.js. `.ci/run` installs and starts all of that on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# Browser tests drive the real binary through headless Chromium (Playwright).
cargo build -p trustplane --locked
(
  cd tests/e2e
  npm ci --no-audit --no-fund --loglevel=error
  TRUSTPLANE_BIN="$PWD/../../target/debug/trustplane" npm test
)
