#!/bin/bash
# entrypoint.sh: PostgreSQL for the compose topology. On an empty data volume: initdb,
# the schema (scripts/stack.d/postgres/schema.sql) and the passwords init-secrets
# generated for the mail roles; then the server in the foreground, listening on the
# container network with SCRAM passwords for those roles only.
# SECURITY: passwords go to psql on stdin, never argv or environment; the superuser has
# no password and is reachable only over the local socket (peer).
# ERRORS: any failed step exits non-zero (set -e); the container then fails its start.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
data="${PGDATA:-/var/lib/postgresql/data}"
secrets=/run/db-secrets
sockets=/var/run/postgresql

if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale -A peer >/dev/null
  cat >>"$data/postgresql.conf" <<'CONF'
listen_addresses = '*'
password_encryption = 'scram-sha-256'
unix_socket_directories = '/var/run/postgresql'
CONF
  cat >"$data/pg_hba.conf" <<'HBA'
local   all    postgres                               peer
host    mail   dovecot_auth,postfix_maps,vault_admin  all  scram-sha-256
HBA
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start >/dev/null
  psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockets" -U postgres)
  "${psql[@]}" -d postgres -c 'CREATE DATABASE mail' >/dev/null
  "${psql[@]}" -d mail -f /opt/smtp-sidecar/schema.sql >/dev/null
  for role in vault_admin dovecot_auth postfix_maps; do
    printf "ALTER ROLE %s PASSWORD '%s';\n" "$role" "$(cat "$secrets/$role")"
  done | "${psql[@]}" -d mail >/dev/null
  "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  echo "postgres: initialised the mail database" >&2
fi
exec "$bin/postgres" -D "$data"
