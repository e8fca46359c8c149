#!/bin/bash
# init-secrets.sh: one-shot, before everything else. Generates the random passwords of
# the mail database's roles and the mail server's CA and certificate into volumes, so no
# secret is ever written in docker-compose.yml, an image or an environment variable.
# Idempotent: existing files are kept.
set -euo pipefail
umask 077
secrets=/run/db-secrets tls=/run/mail-tls
mkdir -p "$secrets" "$tls"
# No trailing newline: the files are read whole (`bao write password=@file` sends every
# byte), so a newline would become part of the password.
for role in vault_admin dovecot_auth postfix_maps; do
  [ -s "$secrets/$role" ] || openssl rand -hex 24 | tr -d '\n' >"$secrets/$role"
done
# The postgres image (uid 999) sets the roles' passwords from these files.
chown 999:999 "$secrets"/* && chmod 0400 "$secrets"/*
if [ ! -s "$tls/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=smtp-sidecar dev mail CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=mail" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:mail,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 825 -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
  rm -f "$tls/server.csr" "$tls/ext.cnf" "$tls/ca.srl" "$tls/ca.key"  # nothing signs again
fi
chmod 0644 "$tls/ca.pem" "$tls/server.pem"
echo "init-secrets: database role passwords and mail TLS certificate are in place"
