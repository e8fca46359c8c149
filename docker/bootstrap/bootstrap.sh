#!/bin/bash
# bootstrap.sh: the compose counterpart of scripts/vault-bootstrap (same policies, the
# same smtp plugin). Idempotent. Never prints a secret: the root token and passwords are
# read from volumes into the environment of the commands that need them, or passed as
# @file; the sidecar's secret_id is delivered response-wrapped into the tmpfs volume.
# Env: VAULT_ADDR, SIDECAR_UID (owner of the AppRole files), APPROLE_DIR.
set -euo pipefail
umask 077
ROLE=example-app
POLICY=smtp-sidecar-example-app
APPROLE_DIR="${APPROLE_DIR:-/run/approle}"
BAO_TOKEN="$(cat /run/vault-root/token)"
export BAO_ADDR="$VAULT_ADDR" BAO_TOKEN

bao auth list -format=json | jq -e '."approle/"' >/dev/null || bao auth enable approle >/dev/null
accessor="$(bao auth list -format=json | jq -r '."approle/".accessor')"
work="$(mktemp -d)"
for f in /opt/smtp-sidecar/policies/*.hcl; do
  name="$(basename "$f" .hcl)"
  sed "s/@APPROLE_ACCESSOR@/$accessor/g" "$f" >"$work/$name.hcl"
  bao policy write "$name" "$work/$name.hcl" >/dev/null
  echo "wrote policy $name"
done

# The smtp engine: the plugin binary the openbao container put into the shared volume.
sha="$(sha256sum /plugins/vault-plugin-secrets-smtp | cut -d' ' -f1)"
bao plugin register -sha256="$sha" -command=vault-plugin-secrets-smtp secret smtp >/dev/null
bao secrets list -format=json | jq -e '."smtp/"' >/dev/null || bao secrets enable -path=smtp smtp >/dev/null
bao write smtp/config connection_url="host=postgres port=5432 dbname=mail sslmode=disable" \
  username=vault_admin password=@/run/db-secrets/vault_admin \
  smtp_host=mail smtp_port=587 smtp_tls_port=465 tls_mode=starttls ca_pem=@/run/mail-tls/ca.pem >/dev/null
echo "configured the smtp engine (plugin sha256 ${sha:0:16}...)"
bao write "smtp/roles/$ROLE" ttl=1h max_ttl=24h allowed_senders=app@example.test >/dev/null
echo "wrote smtp role $ROLE"

bao write "auth/approle/role/$ROLE" token_policies="$POLICY" token_no_default_policy=true \
  token_ttl=5m token_max_ttl=30m secret_id_ttl=24h secret_id_num_uses=60 >/dev/null
echo "wrote approle role $ROLE"

mkdir -p "$APPROLE_DIR"
bao read -field=role_id "auth/approle/role/$ROLE/role-id" >"$APPROLE_DIR/role-id"
# Response-wrapped: the sidecar unwraps it once, after checking its creation path.
bao write -wrap-ttl=10m -f -field=wrapping_token "auth/approle/role/$ROLE/secret-id" \
  >"$APPROLE_DIR/secret-id"
chown "${SIDECAR_UID:-10001}" "$APPROLE_DIR/role-id" "$APPROLE_DIR/secret-id"
chmod 0400 "$APPROLE_DIR/role-id" "$APPROLE_DIR/secret-id"
echo "role_id and wrapped secret_id -> $APPROLE_DIR (tmpfs)"
