# smtp-sidecar-example-app-passwordless: the sidecar of example-app when it sends with a
# passwordless login (docs/providers/own-stack.md): a token our smtp plugin signs for
# the role example-app-passwordless (credential_type jwt). It may lease exactly that
# role's logins and revoke those leases (they are not renewable: a token's expiry is
# signed into it), and nothing else.
path "smtp/creds/example-app-passwordless" {
  capabilities = ["read"]
}

# Path-scoped lease revocation, as for the password logins. No renew: the plugin
# refuses to renew a token login.
path "sys/leases/revoke/smtp/creds/example-app-passwordless/*" {
  capabilities = ["update"]
}

# Its own token, as every sidecar.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
