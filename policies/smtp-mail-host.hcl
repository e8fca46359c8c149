# smtp-mail-host: the mail server that checks passwordless logins (Dovecot's oauth2
# passdb, local validation). Its key sync reads the public keys the smtp plugin
# publishes (current, next, and retired keys whose tokens are still valid) and writes
# them where Dovecot looks them up; it learns nothing secret and can mint nothing.
path "smtp/jwks" {
  capabilities = ["read"]
}

# Its own token.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
