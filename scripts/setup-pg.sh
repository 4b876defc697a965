#!/usr/bin/env bash
# Installs the PostgreSQL 15 server and wal2json when they are missing.
set -euo pipefail
have() { ls /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1 && ls /usr/lib/postgresql/15/lib/wal2json.so >/dev/null 2>&1; }
have && exit 0
pkgs="postgresql-15 postgresql-15-wal2json postgresql-client-15"
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL 15 with wal2json is missing. Install it with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y $pkgs" >&2
  exit 1
fi
echo "setup: installing $pkgs (apt)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# The Debian package may create and start a default cluster; pg2s3 uses its own.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi
have
