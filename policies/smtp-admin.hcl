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

# Explicitly not: reading creds would hand the admin working SMTP logins.
path "smtp/creds/*" {
  capabilities = ["deny"]
}
