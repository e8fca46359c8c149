#!/bin/bash
# 20-role-passwords.sh: runs once in the postgres image's initdb phase, after the schema:
# gives the mail database's roles the passwords init-secrets generated. The passwords go
# to psql on stdin, never on a command line.
set -euo pipefail
for role in vault_admin dovecot_auth postfix_maps; do
  printf "ALTER ROLE %s PASSWORD '%s';\n" "$role" "$(cat "/run/db-secrets/$role")"
done | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname mail -q
