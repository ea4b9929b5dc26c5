# syntax=docker/dockerfile:1.7
# healbot's image: `healbot` on PATH with git (the worktrees of fix PRs) and bubblewrap (the
# sandbox a repository's check command runs in), as the non-root user 10001, nothing else.
#
#   docker build -t healbot .                        # the runtime image (default target)
#   docker build --target toolchains -t healbot:toolchains .
#   docker build --build-arg FEATURES=neo4j -t healbot .
#
# The `toolchains` target adds what the check commands of typical repositories need (Python with
# pytest, Go, Node.js with npm, Rust with cargo), to be run inside the sandbox. Add your own in a
# layer FROM either target (docs/install.md "Toolchains"). The chart's values point at the image
# (image.repository, image.tag). .github/workflows/release.yml builds and pushes both on a v* tag.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build -----------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
ARG FEATURES=""
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them: a stub crate with the real
# manifest and lock file.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches examples \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for b in audit canary conflict delivery localize rca; do echo 'fn main() {}' > "benches/$b.rs"; done \
    && for e in bare_axum lock_roundtrips rca_eval; do echo 'fn main() {}' > "examples/$e.rs"; done \
    && sed -i '/^\[\[test\]\]/,/^$/d' Cargo.toml \
    && cargo build --release --locked --bin healbot ${FEATURES:+--features "$FEATURES"} \
    && rm -rf src target/release/.fingerprint/healbot-* target/release/deps/healbot-* target/release/deps/libhealbot-*
COPY src src
COPY policies policies
COPY fix-templates fix-templates
# The demo embeds its sample service and traces; `healbot app create` embeds app.yml.
COPY testdata testdata
COPY app.yml app.yml
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin healbot ${FEATURES:+--features "$FEATURES"} \
    && install -D -m 0755 target/release/healbot /out/healbot

# ---- runtime ---------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Versions are the Debian release's (with its security updates); the base image tag pins them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 healbot \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/healbot \
        --shell /usr/sbin/nologin healbot \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/healbot \
    && install -d -m 0755 /etc/healbot
COPY --from=build /out/healbot /usr/local/bin/healbot
ENV HOME=/var/lib/healbot
WORKDIR /var/lib/healbot
USER 10001:10001
# 8080: /webhooks/github and /healthz; 9090: the internal listener (alertmanager, argo, metrics).
EXPOSE 8080 9090
ENTRYPOINT ["healbot"]
CMD ["serve", "--config", "/etc/healbot/healbot.yaml"]

# ---- runtime + toolchains --------------------------------------------------------------------
FROM runtime AS toolchains
USER 0:0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-pytest python3-venv golang-go nodejs npm build-essential \
    && rm -rf /var/lib/apt/lists/*
# Rust as the build stage has it; CARGO_HOME stays read-only in the image: a check runs
# `cargo test --offline` with the caches healbot.yaml names mounted into the sandbox.
COPY --from=build /usr/local/rustup /usr/local/rustup
COPY --from=build /usr/local/cargo /usr/local/cargo
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH
USER 10001:10001
