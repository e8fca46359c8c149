# Policy of the smtp-sidecar that sends mail for "example-app", when its logins come from
# OpenBao's database secrets engine (SIDECAR_BOOTSTRAP_ENGINE=database) instead of the
# smtp plugin.
# Attached to tokens from the AppRole role auth/approle/role/example-app, which is created
# with token_no_default_policy=true: this file is ALL such a token may do.
# Written by scripts/vault-bootstrap under the name "smtp-sidecar-example-app-database".

# Lease a short-lived SMTP login (username + password). Every read mints a new login
# (a row in the mail user database) under a new lease. Nothing else under database/:
# no other role's credentials, no connection config, no rotate-root.
path "database/creds/example-app" {
  capabilities = ["read"]
}

# Renew the leases of those logins, and nothing else: the path-scoped form
# PUT sys/leases/renew/<lease_id>. Lease ids of this role all start with
# "database/creds/example-app/". (The body form PUT sys/leases/renew {"lease_id": ...}
# is deliberately not allowed: its ACL check cannot see which lease is meant.)
path "sys/leases/renew/database/creds/example-app/*" {
  capabilities = ["update"]
}

# Revoke those leases early (shutdown, a credential the SMTP server refuses), which
# deletes the login at once. Path-scoped form PUT sys/leases/revoke/<lease_id> only.
path "sys/leases/revoke/database/creds/example-app/*" {
  capabilities = ["update"]
}

# The sidecar's own token: read its TTL and policies (to plan renewals) ...
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
