# smtp-approle-delivery-example-app: the delivery identity of ONE app's sidecar (issue
# 14): what re-delivers example-app's AppRole files before every start of its sidecar
# without a person — the systemd unit's ExecStartPre (an AppRole login of its own,
# deploy/systemd/smtp-sidecar-deliver-approle) or the pod's delivery container
# (Kubernetes auth, deploy/kubernetes/). It is policies/smtp-bootstrap.hcl narrowed to
# this one app, plus destroying the app's own unused secret_ids by accessor, so that a
# delivery replacing one that was never read leaves nothing behind.
#
# It cannot log in as the app without it showing: every secret_id it can obtain is
# response-wrapped, and the sidecar checks where its wrapping token was created and
# fails loudly if someone unwrapped it first. It can read no lease, no login, no
# engine configuration, and nothing of any other app (policies/rbac-matrix.json,
# tests/e2e/test_rbac.py).

path "auth/approle/role/example-app/role-id" {
  capabilities = ["read"]
}

# Only response-wrapped answers (an unwrapped request is refused by the policy itself).
path "auth/approle/role/example-app/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "10m"
}

# A wrapped secret_id it delivered earlier that the sidecar never read.
path "auth/approle/role/example-app/secret-id-accessor/destroy" {
  capabilities = ["update"]
}

# Its own token ends with the delivery.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
