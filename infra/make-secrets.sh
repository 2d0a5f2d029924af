#!/usr/bin/env bash
# Writes the secrets docker-compose.yml mounts (./secrets/<name>), each a new random value, leaving
# existing ones alone (delete a file to replace it, then restart what reads it). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
chmod 700 secrets

random() { openssl rand -hex "$1"; }
put() {
  local name=$1 value=$2
  if [ -s "secrets/$name" ]; then echo "secrets/$name kept"; return; fi
  printf '%s\n' "$value" > "secrets/$name"
  echo "secrets/$name written"
}

put postgres_password "$(random 24)"
put minio_root_password "$(random 24)"
put jwt_signing_key "$(random 32)"
put host_client_secret "$(random 32)"
put webhook_secret_key "$(random 32)"
put download_link_key "$(random 32)"
# The database URL holds the PostgreSQL password: written from it, so the two always agree.
put database_url "postgres://dcar:$(tr -d '\n' < secrets/postgres_password)@postgres:5432/dcar"
# The containers run as other users (node, postgres): the files must be readable to them; the
# directory (700) keeps them from other users of this machine.
chmod 644 secrets/*
