# smtp-auditor: sees what exists and who holds leases, never a secret.

# Role definitions (TTLs, allowed senders): configuration, not secrets.
path "smtp/roles" {
  capabilities = ["list"]
}
path "smtp/roles/*" {
  capabilities = ["read", "list"]
}

# Lease metadata: which leases exist under smtp/creds (listing lease ids needs sudo on
# this path) and their issue/expiry times (lookup, body form). No credentials.
path "sys/leases/lookup/smtp/creds/*" {
  capabilities = ["list", "sudo"]
}
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Explicitly not: logins, and the engine's config (its connection string names the
# database user).
path "smtp/creds/*" {
  capabilities = ["deny"]
}
path "smtp/config" {
  capabilities = ["deny"]
}
