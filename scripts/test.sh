#!/usr/bin/env bash
# The test command: what `cargo test` needs beyond the Rust toolchain (a real redis-server for
# the fleet rate-limit tests), installed if missing, then `cargo test` with any arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing redis-server (the fleet rate-limit tests start real ones)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
  else
    echo "the tests need redis-server on PATH: install it (Debian/Ubuntu: apt-get install redis-server)" >&2
    exit 1
  fi
fi
exec cargo test "$@"
