#!/bin/bash
# entrypoint.sh: render scripts/stack.d templates for the container (PostgreSQL at the
# `postgres` service, listeners on the container's address, standard ports) and run
# Dovecot and Postfix in the foreground. With an argument, runs that instead
# (init-secrets.sh uses this image too).
set -euo pipefail
[ "$#" -gt 0 ] && exec "$@"

STATE=/var/lib/mailstack
T=/opt/smtp-sidecar/templates
addr="$(hostname -i | awk '{print $1}')"
mkdir -p "$STATE"/{conf/postfix,conf/dovecot,postfix/queue,postfix/data,log,maildir,dovecot/run,dovecot/state,tls}
chmod 0755 "$STATE" "$STATE/maildir" && chown 65534:65534 "$STATE/maildir"
install -m 0644 /run/mail-tls/server.pem "$STATE/tls/server.pem"
install -m 0600 /run/mail-tls/server.key "$STATE/tls/server.key"

render() {  # render SRC DEST MODE OWNER:GROUP (passwords are substituted inside bash)
  local content
  content="$(cat "$T/$1")"
  content="${content//@STACK@/$STATE}"
  content="${content//@PG_HOST@/postgres}"
  content="${content//@PG_PORT@/5432}"
  content="${content//@LISTEN_ADDR@/$addr}"
  content="${content//@SMTP_STARTTLS_PORT@/587}"
  content="${content//@SMTP_TLS_PORT@/465}"
  content="${content//@PG_PASSWORD_DOVECOT_AUTH@/$(cat /run/db-secrets/dovecot_auth)}"
  content="${content//@PG_PASSWORD_POSTFIX_MAPS@/$(cat /run/db-secrets/postfix_maps)}"
  (umask 077 && printf '%s\n' "$content" >"$2")
  chown "$4" "$2" && chmod "$3" "$2"
}
render dovecot/dovecot.conf "$STATE/conf/dovecot/dovecot.conf" 0644 root:root
render dovecot/dovecot-sql.conf.ext "$STATE/conf/dovecot/dovecot-sql.conf.ext" 0600 root:root
render postfix/main.cf "$STATE/conf/postfix/main.cf" 0644 root:root
render postfix/master.cf "$STATE/conf/postfix/master.cf" 0644 root:root
render postfix/sender-login-maps.cf "$STATE/conf/postfix/sender-login-maps.cf" 0640 root:postfix
render postfix/virtual-mailbox-maps.cf "$STATE/conf/postfix/virtual-mailbox-maps.cf" 0640 root:postfix

dovecot -c "$STATE/conf/dovecot/dovecot.conf"
postfix -c "$STATE/conf/postfix" set-permissions >/dev/null 2>&1 || true
# Postfix's master in the foreground keeps the container alive; its log goes to a file.
exec postfix -c "$STATE/conf/postfix" start-fg
