#!/bin/sh
# dev-server.sh: OpenBao in DEV MODE (in memory, unsealed, TLS off inside the compose
# network): for the dev topology only, never for production. The smtp plugin is copied
# from the image into the shared plugin volume, where the bootstrap takes its sha256.
#
# The root token: dev mode takes its initial root token from the environment
# (BAO_DEV_ROOT_TOKEN_ID; the command line would show it to every process), so that
# token stays readable in the server's /proc/PID/environ. Once the server is up this
# script uses it once, to create the root token the bootstrap uses (written only to
# the vault-root volume), and revokes it: what the environment keeps is a dead token.
# The token file appears only after that, so the healthcheck (file + `bao status`)
# passes only then.
# ERRORS: exits non-zero (and the container stops) if the server does not come up or
# the token cannot be replaced.
set -eu
umask 077
mkdir -p /run/vault-root
rm -f /run/vault-root/token /run/vault-root/token.tmp   # from an earlier start
install -m 0755 /opt/plugins/vault-plugin-secrets-smtp /plugins/vault-plugin-secrets-smtp
initial="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BAO_DEV_ROOT_TOKEN_ID="$initial" bao server -dev -dev-listen-address=0.0.0.0:8200 \
  -dev-plugin-dir=/plugins -dev-no-store-token >/dev/null &
server=$!
trap 'kill -TERM "$server" 2>/dev/null' TERM INT   # PID 1: pass docker stop on

i=0
until bao status >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -le 120 ] || { echo "dev-server: bao did not come up in 60 s" >&2; exit 1; }
  kill -0 "$server" 2>/dev/null || { echo "dev-server: bao exited" >&2; exit 1; }
  sleep 0.5
done
BAO_TOKEN="$initial" bao token create -policy=root -orphan -field=token \
  >/run/vault-root/token.tmp
mv /run/vault-root/token.tmp /run/vault-root/token
BAO_TOKEN="$initial" bao token revoke -self
initial=""
echo "dev-server: OpenBao up; root token in the vault-root volume, the initial one revoked"

# Until the server ends (wait returns early when a trapped signal arrives).
status=0
while kill -0 "$server" 2>/dev/null; do
  wait "$server" || status=$?
done
exit "$status"
