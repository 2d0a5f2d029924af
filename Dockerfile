# syntax=docker/dockerfile:1
# One image for every service (api, scheduler, worker, migrate); the command picks the process.
# Services run their TypeScript source through tsx, as in development and tests: one code path.
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS deps
ENV CI=true
RUN npm install -g pnpm@12.21.0 --silent
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/domain/package.json packages/domain/
COPY packages/platform/package.json packages/platform/
COPY packages/archives/package.json packages/archives/
COPY packages/host/package.json packages/host/
COPY packages/api-schemas/package.json packages/api-schemas/
COPY packages/webhooks/package.json packages/webhooks/
COPY packages/runs/package.json packages/runs/
COPY packages/testing/package.json packages/testing/
COPY packages/admin/package.json packages/admin/
COPY packages/demo/package.json packages/demo/
COPY services/api/package.json services/api/
COPY services/scheduler/package.json services/scheduler/
COPY services/worker/package.json services/worker/
RUN pnpm install --frozen-lockfile --prod

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# ffmpeg from Debian has libopus; tini reaps ffmpeg children and forwards SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app /app
COPY --chown=node:node . .
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
