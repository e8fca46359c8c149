#!/bin/sh
# dev-server.sh: OpenBao in DEV MODE (in memory, unsealed, TLS off inside the compose
# network): for the dev topology only, never for production. The root token is random
# per start and goes only to a volume the bootstrap container reads; it is passed to
# bao through the environment, not the command line. The smtp plugin is copied from the
# image into the shared plugin volume, where the bootstrap takes its sha256.
set -eu
umask 077
mkdir -p /run/vault-root
install -m 0755 /opt/plugins/vault-plugin-secrets-smtp /plugins/vault-plugin-secrets-smtp
BAO_DEV_ROOT_TOKEN_ID="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s' "$BAO_DEV_ROOT_TOKEN_ID" >/run/vault-root/token
export BAO_DEV_ROOT_TOKEN_ID
exec bao server -dev -dev-listen-address=0.0.0.0:8200 -dev-plugin-dir=/plugins \
  -dev-no-store-token >/dev/null
