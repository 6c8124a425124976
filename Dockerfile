# syntax=docker/dockerfile:1
# The hoop image: `docker build -t hoop .` (docs/deploy.md#the-image).
# The builder runs deploy/build-release, the script CI runs (deploy/check), on the files
# .dockerignore lets in: what CI builds is what the image ships. The runtime stage holds the
# binary, glibc, CA certificates and nothing else: no shell, no package manager, uid 65532.
# Pin both images by digest (@sha256:...) in your own build.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# libclang: pg_query builds Postgres's own parser with bindgen (tools/build-deps checks it).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    deploy/build-release /out/usr/local/bin/hoop \
 && mkdir -p /out/var/lib/hoop

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/usr/local/bin/hoop /usr/local/bin/hoop
# The spool's parent, owned by the runtime user: a volume mounted here starts with that owner.
COPY --from=build --chown=65532:65532 /out/var/lib/hoop /var/lib/hoop
USER 65532:65532
WORKDIR /var/lib/hoop
VOLUME ["/var/lib/hoop"]
ENV HOOP_CONFIG=/etc/hoop/hoop.toml \
    HOOP_LOG_FORMAT=json
# The HTTP API (server.api_listen) and the PostgreSQL gateway (server.gateway_listen).
EXPOSE 8080 6432
ENTRYPOINT ["/usr/local/bin/hoop"]
CMD ["serve"]
