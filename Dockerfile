# syntax=docker/dockerfile:1
#
# The MCP platform server.
#
#   docker build -t mcp-server .                          # SQLite, the default
#   docker build -t mcp-server --build-arg FEATURES=neo4j .  # with the Neo4j backends
#   docker run -p 8080:8080 -v mcp-data:/var/lib/mcp -e MCP_JWT_SECRET=... mcp-server
#
# compose.yaml runs it with Neo4j. The process runs as the unprivileged user `mcp`; see
# SECURITY.md ("Running in a container") for what the code sandbox needs from the runtime.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build -------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# Cargo features of mcp-server, e.g. "neo4j".
ARG FEATURES=""
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit).
RUN --mount=type=cache,id=mcp-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=mcp-target,target=/src/target \
    cargo build --release --locked -p mcp-server ${FEATURES:+--features "$FEATURES"} \
 && install -m 0755 target/release/mcp-server /usr/local/bin/mcp-server

# ---- run -----------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# The sandbox runs code with bubblewrap (+ util-linux prlimit, already in the base) using the
# distribution's python3, node and bash; shellcheck serves the lint tool; tini reaps orphans.
# Versions come from the pinned Debian release and its security updates (pinning exact
# package versions breaks the build whenever a security update replaces one).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bubblewrap ca-certificates nodejs python3 shellcheck tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 mcp \
 && useradd --system --uid 10001 --gid mcp --home-dir /var/lib/mcp --no-create-home \
      --shell /usr/sbin/nologin mcp \
 && install -d -o mcp -g mcp -m 0700 /var/lib/mcp
COPY --from=builder /usr/local/bin/mcp-server /usr/local/bin/mcp-server

# Listen on all interfaces of the container; keep data (SQLite files, the generated JWT secret
# when MCP_JWT_SECRET is not set, the audit spill file) in the volume; log JSON lines.
ENV MCP_HOST=0.0.0.0 \
    MCP_PORT=8080 \
    MCP_DATA_DIR=/var/lib/mcp \
    MCP_LOG_FORMAT=json
VOLUME ["/var/lib/mcp"]
EXPOSE 8080
USER 10001:10001
WORKDIR /var/lib/mcp

# Liveness only (/ready also checks the stores and the sandbox).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MCP_PORT', '8080'), timeout=2)"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/mcp-server"]
CMD ["serve"]
