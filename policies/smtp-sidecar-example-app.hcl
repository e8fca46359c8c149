# Policy of the smtp-sidecar that sends mail for "example-app".
# Attached to tokens from the AppRole role auth/approle/role/example-app, which is created
# with token_no_default_policy=true: this file is ALL such a token may do.
# Written by scripts/vault-bootstrap under the name "smtp-sidecar-example-app".

# Lease a short-lived SMTP login from the smtp engine (vault-plugin-secrets-smtp). Every
# read mints a new login under a new lease. Nothing else under smtp/: no other role's
# logins, no config (it holds the database password), no roles, no rotate-root.
path "smtp/creds/example-app" {
  capabilities = ["read"]
}

# Renew the leases of those logins, and nothing else: the path-scoped form
# PUT sys/leases/renew/<lease_id> (lease ids of this role start with
# "smtp/creds/example-app/"). The body form cannot be scoped, so it is not granted.
path "sys/leases/renew/smtp/creds/example-app/*" {
  capabilities = ["update"]
}

# Revoke those leases early (rotation, shutdown, a login the server refuses), which
# deletes the login at once. Path-scoped form only.
path "sys/leases/revoke/smtp/creds/example-app/*" {
  capabilities = ["update"]
}

# The sidecar's own token: read its TTL (to plan renewals) ...
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# ... extend it up to the role's token_max_ttl (after that it logs in again) ...
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# ... and revoke it on shutdown, which also revokes every lease it obtained.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# The spool's data key (spool.transit_key = "example-app-spool"): a new data key, and the
# stored wrapped one unwrapped after a restart. Only this app's key, only these two
# operations: no encrypt (nothing else is sealed with it), no key read or export.
path "transit/datakey/plaintext/example-app-spool" {
  capabilities = ["update"]
}
path "transit/decrypt/example-app-spool" {
  capabilities = ["update"]
}
