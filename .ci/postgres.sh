#!/usr/bin/env bash
# Start a throwaway local PostgreSQL for the shared-study test; print its URL on stdout (nothing else).
# Installs Debian's postgresql if missing. Listens on 127.0.0.1 only. Exit non-zero if it cannot start.
set -euo pipefail
{
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  data=$(mktemp -d /tmp/tunegym-pg.XXXXXX)
  chown postgres "$data"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  su postgres -c "$bin/initdb -D $data -A trust -U postgres" >/dev/null
  su postgres -c "$bin/pg_ctl -D $data -o '-c listen_addresses=127.0.0.1 -p $port -k /tmp' -l $data/log start -w" >/dev/null
  su postgres -c "psql -h 127.0.0.1 -p $port -U postgres -c 'CREATE DATABASE tunegym'" >/dev/null
} 1>&2
echo "postgresql://postgres@127.0.0.1:${port}/tunegym"
