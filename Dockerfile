# hosted-fields-broker: one static (musl) binary in a scratch image, running as non-root.
#
#   docker build -t hosted-fields-broker .                  # builds the binary in the rust stage
#   buildah bud --format docker -t hosted-fields-broker .   # the same with buildah >= 1.29
#
# buildah before 1.29 (Debian 12 ships 1.28) ignores an ARG's default when it resolves
# `FROM ${BINARY_FROM}` (containers/buildah#4366): it skips the rust stage, then tries to pull
# an image called "build". Pass the default explicitly there: `--build-arg BINARY_FROM=build`.
#
# Where no base image can be pulled (an offline builder), build the binary on the host and
# copy it in instead; the rust stage is then skipped (BuildKit and buildah >= 1.28 both skip
# stages the target does not need):
#
#   cargo build --release --locked --target x86_64-unknown-linux-musl -p hosted-fields-broker
#   cp /etc/ssl/certs/ca-certificates.crt .
#   buildah bud --format docker --build-arg BINARY_FROM=prebuilt -t hosted-fields-broker .
#
# scripts/container-smoke.sh does exactly that and then runs the image.
# `--format docker` matters for buildah: the default OCI image format has no HEALTHCHECK.

# Which stage provides /hosted-fields-broker and the CA bundle: `build` or `prebuilt`.
ARG BINARY_FROM=build

# ---- build: compile a static binary --------------------------------------------------------
# The tag pins the toolchain (>= rust-version in Cargo.toml) and the Debian release.
FROM rust:1.95-slim-bookworm AS build
# musl-gcc compiles aws-lc-sys (rustls' crypto) for the musl target. Versions float within
# bookworm on purpose: Debian's archive drops superseded versions, so a pin would break builds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# Dependencies first, against placeholder sources, so a source-only change reuses this layer.
# bench/reference is a workspace member: cargo needs its manifest, never its code.
COPY Cargo.toml Cargo.lock ./
COPY bench/reference/Cargo.toml bench/reference/
RUN mkdir -p src bench/reference/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > bench/reference/src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --target x86_64-unknown-linux-musl -p hosted-fields-broker \
    && rm -rf src
COPY src src
COPY static static
# COPY keeps the files' old mtimes, which can predate the placeholder build: touch them so
# cargo rebuilds the crate instead of shipping the empty main.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --target x86_64-unknown-linux-musl -p hosted-fields-broker \
    && cp target/x86_64-unknown-linux-musl/release/hosted-fields-broker /hosted-fields-broker

# ---- prebuilt: a binary built on the host (see the top of this file) -----------------------
FROM scratch AS prebuilt
COPY target/x86_64-unknown-linux-musl/release/hosted-fields-broker /hosted-fields-broker
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# An ARG cannot be used in COPY --from, but it can name the stage to copy from.
FROM ${BINARY_FROM} AS binary

# ---- runtime ---------------------------------------------------------------------------------
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="hosted-fields-broker" \
      org.opencontainers.image.description="Payroc Hosted Fields session broker: keeps the API key server-side, hands pages 10-minute session tokens" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=binary /hosted-fields-broker /hosted-fields-broker
# reqwest (rustls with the platform verifier) reads the system CA bundle at start-up: without
# this file no HTTP client can be built and the broker cannot reach Payroc.
COPY --from=binary /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# config/default.toml is read relative to the working directory and is optional. It is copied
# (to /config/default.toml, WORKDIR /) so that the image behaves like a checkout and
# `check-config` shows the documented defaults; override with BROKER__* or `--config FILE`.
WORKDIR /
COPY config/default.toml /config/default.toml
# Nobody's uid/gid (distroless' "nonroot"); numeric, since scratch has no /etc/passwd, and so
# that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Public API (server.listen) and the optional admin listener (server.metrics_listen).
EXPOSE 8080 9090
# `serve` binds this anyway; set here so `demo` is reachable from outside the container too,
# and so the HEALTHCHECK below (which reads the same configuration) probes the same port.
ENV BROKER__SERVER__LISTEN=0.0.0.0:8080
# No curl in scratch: the binary probes its own /healthz (2 s client timeout, exit 0 or 1).
# A listen address given only through `--config FILE` is not seen here: set it with the
# environment, or override this HEALTHCHECK with the same `--config`.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/hosted-fields-broker", "healthcheck"]
# The broker is PID 1 and handles SIGTERM/SIGINT itself (drain, then exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/hosted-fields-broker"]
CMD ["serve"]
