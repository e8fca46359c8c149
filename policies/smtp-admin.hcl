# smtp-admin: operates the smtp engine (the mail database connection, roles, root
# rotation) but cannot mint or see a single SMTP login.

# The engine's connection to the mail user database. Reading it never returns the
# password (the engine filters it); writing replaces it.
path "smtp/config" {
  capabilities = ["create", "read", "update", "delete"]
}

# Give the engine a new database password only it knows.
path "smtp/config/rotate-root" {
  capabilities = ["update"]
}

# Roles: TTLs, allowed senders, username templates.
path "smtp/roles" {
  capabilities = ["list"]
}
path "smtp/roles/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# The token signing keys of passwordless logins: rotate them (the next key, already
# published, starts signing), and read the public JWKS. The private keys are never
# readable by anyone: no path returns them.
path "smtp/jwt/rotate" {
  capabilities = ["update"]
}
path "smtp/jwks" {
  capabilities = ["read"]
}

# Explicitly not: reading creds would hand the admin working SMTP logins.
path "smtp/creds/*" {
  capabilities = ["deny"]
}
