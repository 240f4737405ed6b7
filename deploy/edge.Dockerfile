# syntax=docker/dockerfile:1
# parkedge lot controller. Multi-arch: build from the repository root with
#   docker buildx build --platform linux/arm64,linux/amd64 -f deploy/edge.Dockerfile \
#     -t ghcr.io/parkedge/edge:0.1.0 --push .
# Runs compiled: edge/build.ts bundles the TypeScript sources with esbuild (the transpiler tsx uses,
# so the same semantics as the tests) into dist/edge.mjs, which plain node runs. No tsx loader at run
# time keeps the controller inside its 150 MB memory budget (bench/edge.bench.ts). Packages stay
# external imports, resolved from the production node_modules beside dist/.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
# Toolchain for the native modules: better-sqlite3, epoll (onoff's GPIO interrupts),
# @serialport/bindings-cpp and node-hid (hidraw backend: libudev; libusb for the fallback).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libusb-1.0-0-dev libudev-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The bundle is plain JavaScript, the same on every architecture: built once, on the build host.
# Nothing native is compiled here (--ignore-scripts); esbuild runs from its prebuilt binary package.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY protocol ./protocol
COPY edge ./edge
COPY hardware-sim ./hardware-sim
RUN node --import tsx edge/build.ts --out dist

FROM ${NODE_IMAGE}
# Runtime libraries of the native modules; tini forwards SIGTERM so the controller can leave the
# barriers down and close SQLite cleanly; setpriv (util-linux) drops root when GPIO does not need it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libusb-1.0-0 libudev1 tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    EDGE_DATA_DIR=/data \
    EDGE_DB_PATH=/data/edge.sqlite \
    EDGE_HOST=0.0.0.0 \
    EDGE_PORT=8090
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY deploy/edge-entrypoint.sh deploy/healthcheck.mjs ./deploy/
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs", "edge"]
# Starts as root only to prepare /data and, with EDGE_RUN_AS_ROOT=0, continues as `node`.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/deploy/edge-entrypoint.sh"]
# dist/edge.mjs is edge/main.ts compiled (npm run build:edge); source maps give TypeScript positions.
CMD ["node", "--enable-source-maps", "dist/edge.mjs"]
