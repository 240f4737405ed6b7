# syntax=docker/dockerfile:1
# parkedge cloud service (Fastify on PostgreSQL). Build from the repository root:
#   docker buildx build --platform linux/amd64,linux/arm64 -f deploy/cloud.Dockerfile \
#     -t ghcr.io/parkedge/cloud:0.1.0 --push .
# Runs several instances behind a load balancer, each with DATABASE_URL and MQTT_URL set
# (deploy/README.md, "Production topology"). Sources run through tsx, as in the tests.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
# The lockfile is shared with the edge, so its native modules are built here too (never loaded:
# the cloud imports no device library).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libusb-1.0-0-dev libudev-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY protocol ./protocol
COPY cloud ./cloud
COPY deploy/healthcheck.mjs ./deploy/
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs", "cloud"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "cloud/server.ts"]
