# syntax=docker/dockerfile:1
# tagwarden's image: `tagwarden serve` by default (deploy/helm/tagwarden runs it), any
# other command with arguments (`docker run IMAGE check --kube-version 1.32 -`).
#
#   docker build -t tagwarden .
#
# The binary links glibc dynamically (reqwest with rustls: no OpenSSL), so the final
# image is distroless `cc` (glibc, libgcc_s, CA certificates), of the same Debian release
# as the builder. crates/tagwarden/tests/chart.rs checks these facts against `ldd`.

# The workspace's rust-version (Cargo.toml).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# The workspace only (.dockerignore lets nothing else in): manifests, lock file, crates.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tagwarden \
    && cp target/release/tagwarden /usr/local/bin/tagwarden

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/tagwarden /tagwarden
# distroless' `nonroot`; the chart's runAsUser is the same.
USER 65532:65532
# /healthz, /readyz and /metrics of `serve`.
EXPOSE 8080
ENTRYPOINT ["/tagwarden"]
CMD ["serve"]
