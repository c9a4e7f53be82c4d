#!/usr/bin/env bash
# Type check of static/broker.d.ts: an example checkout page script (example.ts) compiled with
# tsc --noEmit in strict mode, and the declared values compared with the module's exports.
# TypeScript comes from npm, pinned in package.json / package-lock.json (npm ci).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing node"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

cd "$here"
echo "== npm ci (tests/types)"
npm ci --no-audit --no-fund --loglevel=error
echo "== tsc $(npx --no-install tsc --version) --noEmit (strict): example.ts against static/broker.d.ts"
npx --no-install tsc --noEmit -p .
node check-exports.mjs
echo "types: 2 passed, 0 failed"
