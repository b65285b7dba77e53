#!/usr/bin/env bash
# Shows that the hostile-input suite catches the attacks of issue 12: applies
# scripts/mutants/issue12-fixes-off.patch (each fix switched off: trusted-proxy check, client
# X-Trustplane-* refusal, disagreeing-source refusal, path canonicalisation, the documented
# nginx/Caddy header overwrites, the per-account second-factor counter and flow budget, the
# pending-row caps) in a scratch worktree, runs the suite there and lists what failed.
# Needs what scripts/test.sh needs (PostgreSQL URL, nginx, caddy). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
wt=$(mktemp -d)/fixes-off
git worktree add -q --detach "$wt" HEAD
trap 'git worktree remove --force "$wt"' EXIT
(cd "$wt" && git apply "$OLDPWD/scripts/mutants/issue12-fixes-off.patch")
# Reuse this checkout's build directory so only the changed crates compile.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-mutant}"
(cd "$wt" && cargo nextest run --workspace --no-fail-fast \
  -E 'test(/web_csrf|web_api|oidc_client_auth|limits|forward_auth|proxy|full_disk|audit_keyed|password_names|derived|storage|hostile/)' \
  2>&1 | tee "$wt/../mutant.log" | grep -E '^\s+FAIL|Summary' ) || true
echo "Every FAIL above is an attack the suite catches once its fix is switched off."
