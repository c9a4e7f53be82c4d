#!/usr/bin/env bash
# Instructions per session request, broker vs reference, counted by valgrind's callgrind:
# repeatable to a fraction of a percent whatever else the machine is doing, unlike
# requests/s. It counts user-space instructions only (the kernel's share, the same for both,
# is left out), so the ratio is an upper bound on the CPU gap.
#   bench/instructions.sh [REQUESTS]     (default 3000; about 2 minutes)
# Needs the release builds (bench/run.sh makes them), valgrind, hey and nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-3000}
need=()
for tool in valgrind hey nginx; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind hey nginx-light >/dev/null
fi
cargo build --release --locked -p hosted-fields-broker -p bench-reference
bin=target/release
work=$(mktemp -d /tmp/hfb-instructions-XXXXXX)
upstream=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#@DIR@#$work#g" -e "s#@PORT@#$upstream#g" bench/nginx.conf.in >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx-error.log"
trap 'nginx -c "$work/nginx.conf" -p "$work" -s stop 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/hosted-fields/session"
load() { hey -n "$1" -c 4 -m POST -T application/json -d '{"scenario":"payment"}' "$url" | grep -E '^\s+\[' || true; }

# Starts "$@" under callgrind, warms it up, counts `requests` requests, prints the count.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$work/out.%p" "$@" >/dev/null 2>"$work/valgrind.log" &
  local pid=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null -X POST -H 'content-type: application/json' -d '{}' "$url" && break
    sleep 0.2
  done
  load 200 >/dev/null
  callgrind_control -z "$pid" >/dev/null
  load "$requests" >&2
  callgrind_control -d "$pid" >/dev/null
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$(ls -t "$work"/out.* | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  rm -f "$work"/out.*
  echo $((total / requests))
}

broker=$(BROKER__SERVER__LISTEN=127.0.0.1:$port BROKER__PAYROC__API_KEY=bench-api-key \
  BROKER__PAYROC__IDENTITY_URL=http://127.0.0.1:$upstream/authorize \
  BROKER__PAYROC__API_URL=http://127.0.0.1:$upstream/v1 BROKER__PAYROC__TERMINALS=1234001 \
  BROKER__LOG__FORMAT=json count "$bin/hosted-fields-broker" serve)
reference=$(count "$bin/bench-reference" "127.0.0.1:$port" \
  "http://127.0.0.1:$upstream/v1/processing-terminals/1234001/hosted-fields-sessions")
echo "instructions per request: broker $broker, reference $reference"
python3 -c "print(f'INSTRUCTIONS broker/reference: {$broker / $reference:.3f}')"
