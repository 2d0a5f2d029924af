#!/usr/bin/env bash
# A client of the Daily Conversation Audio Recordings API with curl, jq and sha256sum: get a token
# (OAuth2 client credentials), read a UTC day's 24 hourly entries, download every available hour's
# ZIP and check it against the SHA-256 the API listed for it.
#
#   DCAR_CLIENT_ID=… DCAR_CLIENT_SECRET=… bash docs/examples/client.sh [YYYY-MM-DD]
#
# Settings: DCAR_API_URL (default http://127.0.0.1:3000), DCAR_CLIENT_ID, DCAR_CLIENT_SECRET,
# DCAR_OUT (default ./recordings); the day defaults to yesterday (UTC). ZIPs land in
# DCAR_OUT/<day>/<HH>.zip. Exit code 0 when every available hour was downloaded and verified.
set -euo pipefail

api=${DCAR_API_URL:-http://127.0.0.1:3000}
api=${api%/}
: "${DCAR_CLIENT_ID:?set DCAR_CLIENT_ID and DCAR_CLIENT_SECRET (from pnpm admin app create <tenant> --name <name>)}"
: "${DCAR_CLIENT_SECRET:?set DCAR_CLIENT_SECRET}"
day=${1:-$(date -u -d yesterday +%F)}
directory=${DCAR_OUT:-recordings}/$day
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT

# call WHAT CURL-ARGS...: the answer's body in $answer; anything but 200 stops with the API's message.
call() {
  local what=$1 status
  shift
  status=$(curl -sS -o "$answer" -w '%{http_code}' "$@")
  if [ "$status" != 200 ]; then
    echo "error: $what: HTTP $status $(jq -r '.error // empty' "$answer" 2>/dev/null || true)" >&2
    exit 1
  fi
}

call 'token request' -X POST "$api/connect/token" \
  --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=$DCAR_CLIENT_ID" \
  --data-urlencode "client_secret=$DCAR_CLIENT_SECRET" \
  --data-urlencode scope=dataservice_external
token=$(jq -r .access_token "$answer")

call "day $day" -H "Authorization: Bearer $token" "$api/api/external/conversations/daily-audio-recordings/$day"
available=$(jq '[.links[] | select(.status == "available")] | length' "$answer")
echo "$day: $available hours available, $(jq .totalFiles "$answer") files; archives expire $(jq -r '.expiresAt // "-"' "$answer")"

mkdir -p "$directory"
verified=0
# One line per available hour: its hour, the listed SHA-256 and its link. The link is its own
# credential (no Authorization header); -L follows a link to the API on to the store.
# A link answers 401 once expired (ask for the day again), 403 when altered or its application was
# revoked (or the feature was disabled), 404 once retention removed the archive.
while IFS=$'\t' read -r hour sha256 url; do
  status=$(curl -sS -L -o "$directory/$hour.zip" -w '%{http_code}' "$url")
  if [ "$status" != 200 ]; then
    echo "error: hour $hour: HTTP $status $(jq -r '.error // empty' "$directory/$hour.zip" 2>/dev/null || true)" >&2
    rm -f "$directory/$hour.zip"
    exit 1
  fi
  if ! echo "$sha256  $directory/$hour.zip" | sha256sum --check --quiet --strict; then
    rm -f "$directory/$hour.zip"
    echo "error: hour $hour: its SHA-256 does not match the listed $sha256" >&2
    exit 1
  fi
  echo "  $hour: $directory/$hour.zip $(stat -c %s "$directory/$hour.zip") bytes, sha256 $sha256 verified"
  verified=$((verified + 1))
done < <(jq -r '.links[] | select(.status == "available") | [.hour, .sha256, .url] | @tsv' "$answer")
echo "verified $verified of $available available hours of $day"
