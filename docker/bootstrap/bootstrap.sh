#!/bin/bash
# bootstrap.sh: the compose counterpart of scripts/vault-bootstrap (same policies, same
# SQL statements). Idempotent. Never prints a secret: the root token and passwords are
# read from volumes into the environment of the commands that need them, or passed as
# @file.
# Env: VAULT_ADDR, SIDECAR_UID (owner of the AppRole files), APPROLE_DIR.
set -euo pipefail
umask 077
ROLE=example-app
POLICY=smtp-sidecar-example-app
APPROLE_DIR="${APPROLE_DIR:-/run/approle}"
BAO_TOKEN="$(cat /run/vault-root/token)"
export BAO_ADDR="$VAULT_ADDR" BAO_TOKEN

bao auth list -format=json | jq -e '."approle/"' >/dev/null || bao auth enable approle >/dev/null
for f in /opt/smtp-sidecar/policies/*.hcl; do
  bao policy write "$(basename "$f" .hcl)" "$f" >/dev/null
  echo "wrote policy $(basename "$f" .hcl)"
done

bao secrets list -format=json | jq -e '."database/"' >/dev/null || bao secrets enable database >/dev/null
bao write database/config/mail \
  plugin_name=postgresql-database-plugin \
  connection_url='postgresql://{{username}}:{{password}}@postgres:5432/mail?sslmode=disable' \
  username=vault_admin password=@/run/db-secrets/vault_admin password_authentication=password \
  username_template='{{ printf "smtp-%s-%s" (.RoleName | truncate 24) (random 20) | lowercase }}' \
  allowed_roles="$ROLE" verify_connection=true >/dev/null
echo "configured database/config/mail"

work="$(mktemp -d)"
statements() {
  grep -v -E '^[[:space:]]*(--|$)' "/opt/smtp-sidecar/statements/$ROLE-$1.sql" |
    sed "s|@SENDERS_VALUES@|('app@example.test')|" >"$work/$1.sql"
  echo "$work/$1.sql"
}
bao write "database/roles/$ROLE" db_name=mail \
  "creation_statements=@$(statements creation)" \
  "renew_statements=@$(statements renew)" \
  "revocation_statements=@$(statements revocation)" \
  default_ttl=1h max_ttl=24h >/dev/null
echo "wrote database role $ROLE"

bao write "auth/approle/role/$ROLE" token_policies="$POLICY" token_no_default_policy=true \
  token_ttl=5m token_max_ttl=30m secret_id_ttl=24h secret_id_num_uses=60 >/dev/null
echo "wrote approle role $ROLE"

mkdir -p "$APPROLE_DIR"
bao read -field=role_id "auth/approle/role/$ROLE/role-id" >"$APPROLE_DIR/role-id"
bao write -f -field=secret_id "auth/approle/role/$ROLE/secret-id" >"$APPROLE_DIR/secret-id"
chown "${SIDECAR_UID:-10001}" "$APPROLE_DIR/role-id" "$APPROLE_DIR/secret-id"
chmod 0400 "$APPROLE_DIR/role-id" "$APPROLE_DIR/secret-id"
echo "role_id and secret_id -> $APPROLE_DIR (tmpfs)"
