#!/bin/bash
# bootstrap.sh: the compose counterpart of scripts/vault-bootstrap (same policies, the
# same smtp plugin), then the sidecar's AppRole delivery for as long as the topology runs.
# Setup is idempotent. Never prints a secret: the root token and passwords are read from
# volumes into the environment of the commands that need them, or passed as @file.
#
# Delivery: the sidecar's secret_id goes response-wrapped into the tmpfs volume, and a
# fresh one replaces it whenever the one there can no longer be unwrapped (the sidecar
# unwrapped it, or its 10 minutes ran out): so a restarted sidecar container (docker
# restart, a crash) always finds a wrapping token it can use, and no one else can have
# used it without the sidecar's unwrap failing loudly. This process holds only a token
# with policy smtp-bootstrap (role_id reads, wrapped secret_ids) once setup is done, and
# keeps the tmpfs volume mounted (a tmpfs volume lives only while a container mounts it).
# Env: VAULT_ADDR, SIDECAR_UID (owner of the AppRole files), APPROLE_DIR,
#      DELIVERY_INTERVAL (seconds between checks, default 2).
set -euo pipefail
umask 077
ROLE=example-app
POLICY=smtp-sidecar-example-app
APPROLE_DIR="${APPROLE_DIR:-/run/approle}"
export BAO_ADDR="$VAULT_ADDR"
# The token is a shell variable, never exported: only each bao command gets it in its
# environment, not this long-running shell's other children (sleep, mktemp, ...).
token="$(cat /run/vault-root/token)"
bao() { BAO_TOKEN="$token" command bao "$@"; }

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

# The spool's Transit key: its data keys seal the sidecar's spool (spool.transit_key).
# Never exportable; the app's policy allows datakey/plaintext and decrypt on it only.
bao secrets list -format=json | jq -e '."transit/"' >/dev/null || bao secrets enable transit >/dev/null
bao read "transit/keys/$ROLE-spool" >/dev/null 2>&1 ||
  bao write -f "transit/keys/$ROLE-spool" type=aes256-gcm96 exportable=false >/dev/null
echo "transit key $ROLE-spool ready (the spool's data keys)"

bao write "auth/approle/role/$ROLE" token_policies="$POLICY" token_no_default_policy=true \
  token_ttl=5m token_max_ttl=30m secret_id_ttl=24h secret_id_num_uses=60 >/dev/null
echo "wrote approle role $ROLE"

# From here on: the delivery policy only, never the root token.
token="$(bao token create -policy=smtp-bootstrap -period=1h -orphan -field=token)"

# install_file NAME: stdin -> $APPROLE_DIR/NAME, 0400 for the sidecar's uid, replaced in
# one rename so the sidecar never reads a half-written file.
install_file() {
  local tmp
  tmp="$(mktemp "$APPROLE_DIR/.$1.XXXXXX")"
  if ! cat >"$tmp" || [ ! -s "$tmp" ]; then rm -f "$tmp"; return 1; fi
  chown "${SIDECAR_UID:-10001}" "$tmp" && chmod 0400 "$tmp" && mv -f "$tmp" "$APPROLE_DIR/$1"
}
# Response-wrapped: the sidecar unwraps it once, after checking its creation path.
deliver_secret_id() {
  bao write -wrap-ttl=10m -f -field=wrapping_token "auth/approle/role/$ROLE/secret-id" |
    install_file secret-id
}
# A lookup does not use the wrapping token; it fails once the token was unwrapped or expired.
secret_id_usable() {
  [ -s "$APPROLE_DIR/secret-id" ] &&
    bao write -format=json sys/wrapping/lookup token=@"$APPROLE_DIR/secret-id" >/dev/null 2>&1
}

mkdir -p "$APPROLE_DIR"
bao read -field=role_id "auth/approle/role/$ROLE/role-id" | install_file role-id
deliver_secret_id
echo "role_id and wrapped secret_id -> $APPROLE_DIR (tmpfs)"

trap 'exit 0' TERM INT   # PID 1: without a trap, SIGTERM would be ignored
deliveries=1 checks=0
while true; do
  sleep "${DELIVERY_INTERVAL:-2}" &
  wait $! || true
  checks=$((checks + 1))
  # The delivery token is periodic (1 h): renewed every ~20 minutes of checks.
  if [ $((checks % 600)) = 0 ]; then
    bao token renew >/dev/null 2>&1 || echo "could not renew the delivery token" >&2
  fi
  secret_id_usable && continue
  if deliver_secret_id; then
    deliveries=$((deliveries + 1))
    echo "the wrapped secret_id was used or expired: delivered a fresh one ($deliveries so far)"
  else
    echo "could not deliver a wrapped secret_id; trying again" >&2
  fi
done
