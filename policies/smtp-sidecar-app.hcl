# One policy for the smtp-sidecar of every app, instead of one file per app: the paths
# are filled in per token from the AppRole role it logged in with. AppRole records the
# role name in the identity alias's metadata (role_name), so a token from
# auth/approle/role/<app> may lease smtp/creds/<app> and nothing else: app A's token
# cannot use app B's role (tests/e2e/test_rbac.py checks it).
# @APPROLE_ACCESSOR@ is replaced by the AppRole mount's accessor when
# scripts/vault-bootstrap writes this policy as "smtp-sidecar-app".

# Lease an SMTP login of the caller's own role.
path "smtp/creds/{{identity.entity.aliases.@APPROLE_ACCESSOR@.metadata.role_name}}" {
  capabilities = ["read"]
}

# Renew and revoke only the leases of that role (path-scoped forms).
path "sys/leases/renew/smtp/creds/{{identity.entity.aliases.@APPROLE_ACCESSOR@.metadata.role_name}}/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/smtp/creds/{{identity.entity.aliases.@APPROLE_ACCESSOR@.metadata.role_name}}/*" {
  capabilities = ["update"]
}

# The token's own lifetime: plan renewals, renew, give it up on shutdown.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# The spool's data key: the Transit key "<role>-spool" of the caller's own role (a new
# data key; the stored one unwrapped after a restart). No other app's key.
path "transit/datakey/plaintext/{{identity.entity.aliases.@APPROLE_ACCESSOR@.metadata.role_name}}-spool" {
  capabilities = ["update"]
}
path "transit/decrypt/{{identity.entity.aliases.@APPROLE_ACCESSOR@.metadata.role_name}}-spool" {
  capabilities = ["update"]
}
