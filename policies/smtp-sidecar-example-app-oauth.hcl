# smtp-sidecar-example-app-oauth: the sidecar of example-app when it sends with an
# OAuth2 token or an SES key (docs/providers/): it may read exactly its own OAuth2
# client secret or key and its own SES IAM key, and nothing else.

# A dynamic IAM user's access key, turned into an SES SMTP password by the keeper.
path "aws/creds/example-app-ses" {
  capabilities = ["read"]
}

# The OAuth2 client secret or private key the keeper presents to a token endpoint.
path "secret/data/smtp-oauth/example-app" {
  capabilities = ["read"]
}

# Renew and revoke the SES key's leases only, in the path-scoped form (lease ids of
# this role start with aws/creds/example-app-ses/), as for the password logins.
path "sys/leases/renew/aws/creds/example-app-ses/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/aws/creds/example-app-ses/*" {
  capabilities = ["update"]
}

# Its own token, as every sidecar.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
