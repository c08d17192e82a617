# Build: a release binary from the locked dependency set.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# The crate embeds config/demo-catalog.yaml, data/uap-core/regexes.yaml and
# migrations/ at compile time, and Cargo.toml names the benches, so all of them
# must be present for the manifest to load.
COPY Cargo.toml Cargo.lock ./
COPY config ./config
COPY data ./data
COPY migrations ./migrations
COPY benches ./benches
COPY src ./src
RUN cargo build --release --locked --bin switchyard

# Run: the binary, CA certificates and an unprivileged user; nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 switchyard \
    && useradd --system --uid 10001 --gid 10001 --no-log-init \
        --home-dir /var/lib/switchyard --create-home --shell /usr/sbin/nologin switchyard
COPY --from=build /src/target/release/switchyard /usr/local/bin/switchyard

# Without DATABASE_URL, events are appended to switchyard-events.jsonl in the
# working directory, so it must be writable by the service user.
WORKDIR /var/lib/switchyard
USER 10001:10001
ENV SWITCHYARD_LISTEN=0.0.0.0:8080
# 8080: tracking (partners' links, /healthz, /readyz). 8081: the admin listener
# (/metrics, /admin), on loopback unless SWITCHYARD_ADMIN_LISTEN opens it, with
# SWITCHYARD_ADMIN_TOKEN set (compose.yaml does, for Prometheus).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["serve"]
