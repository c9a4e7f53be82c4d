#!/usr/bin/env bash
# The benchmark's one entry command: installs its tools, builds both release binaries, runs.
#   bench/run.sh            full run (5 rounds x 10 s; about 13 minutes, plus oha's build once)
#   bench/run.sh --smoke    a quick run that only proves the harness works (CI)
#   bench/run.sh --only accounts   only the many-accounts phase (about 2 minutes)
#   bench/run.sh --only proxy      only the Payroc API pass-through phase (about 2 minutes)
#   bench/run.sh --only redis      only the fleet-wide rate limit phase (about 2 minutes)
#   bench/run.sh --only tracing    only the traces phase (about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in wrk hey nginx redis-server; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk hey nginx-light redis-server >/dev/null
fi
# A thousand concurrent connections need more than the default 1024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The smoke run only proves the harness works, so it uses the debug build CI already has
# and skips the half-load latency run (oha, an open-loop generator, builds in ~4 minutes).
if [[ " $* " == *" --smoke "* ]]; then
  cargo build --locked -p hosted-fields-broker -p bench-reference
  export BENCH_TARGET_DIR=target/debug
else
  export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
  # Only the half-load runs use oha; no `--only` phase has any.
  if [[ " $* " != *" --only "* ]]; then
    command -v oha >/dev/null || cargo install --locked oha --version 1.16.0
  fi
  cargo build --release --locked -p hosted-fields-broker -p bench-reference
fi
exec python3 bench/bench.py "$@"
