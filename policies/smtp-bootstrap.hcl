# smtp-bootstrap: what a deployment pipeline needs to hand an app's sidecar its AppRole
# credentials, and nothing more. It cannot log in as the app (a secret_id it issues is
# always response-wrapped: the pipeline only ever holds a single-use wrapping token,
# and the sidecar unwraps it after checking where it was created).

# The role_id of each app's role (not secret on its own).
path "auth/approle/role/+/role-id" {
  capabilities = ["read"]
}

# New secret_ids, only response-wrapped for at most 10 minutes: an unwrapped answer
# is refused by the policy itself.
path "auth/approle/role/+/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "10m"
}
