#!/usr/bin/env bash
# Instructions per session request, broker vs reference, counted by valgrind's callgrind:
# repeatable to a fraction of a percent whatever else the machine is doing, unlike
# requests/s. It counts user-space instructions only (the kernel's share, the same for both,
# is left out), so the ratio is an upper bound on the CPU gap.
#   bench/instructions.sh [REQUESTS]     (default 3000; about 15 seconds after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for tool in valgrind hey nginx; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind hey nginx-light >/dev/null
fi
cargo build --release --locked -p hosted-fields-broker -p bench-reference
exec python3 bench/bench.py --instructions "${1:-3000}"
