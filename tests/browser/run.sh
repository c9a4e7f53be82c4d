#!/usr/bin/env bash
# Browser end-to-end tests: the demo page, the session helper (static/broker.js) and the
# Hosted Fields stand-in in real headless Chromium, against the real broker binary.
# Installs what is missing (Chromium from Debian, playwright-core from npm), builds the broker,
# runs the suite with Node's test runner and exits non-zero if any test fails.
# Artifacts (screenshot, broker logs, the runner's output) land in tests/browser/artifacts/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing node"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "browser tests need Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi
chromium --version 2>/dev/null || true
echo "node $(node --version)"

echo "== npm ci (tests/browser)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo build (the broker binary the tests start)"
(cd "$repo" && cargo build --locked --quiet)

echo "== browser tests"
mkdir -p "$here/artifacts"
cd "$here"
# One file at a time: the renewal tests measure seconds on a 2-core machine. Every wait inside
# is bounded; the per-test timeout and `timeout` only catch a hang.
set +e
timeout 600 node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec ./*.test.js 2>&1 \
  | tee artifacts/results.txt
status=${PIPESTATUS[0]}
set -e

passed="$(sed -n 's/^ℹ pass //p' artifacts/results.txt | tail -1)"
failed="$(sed -n 's/^ℹ fail //p' artifacts/results.txt | tail -1)"
echo "browser: ${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then
  echo "no browser test ran" >&2
  status=1
fi
exit "$status"
