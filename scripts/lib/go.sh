# scripts/lib/go.sh: which go command builds a module. Sourced by the scripts that build
# from the Go module proxy (install-vault, install-hydra, install-compose-v2, install-deps,
# check-compose, tests/deploy/check-kubernetes).
#
# Two go commands can be on a machine: the machine's own (/usr/local/go here, 1.26) and
# Debian 12's golang-go (1.19), which install-deps.sh installs for the Go net/smtp client
# test and which is older than every module we build. `command -v go` finds whichever
# comes first on PATH, and tests/docker/test-compose puts /usr/bin first (for Debian's
# docker client): on a fresh machine install-compose-v2 then failed with "invalid go
# version '1.24.9'". So pick by version, not by PATH order.
#
# SECURITY: runs only the go binaries it finds (PATH, /usr/local/go), asking their version.
# ERRORS: go_at_least returns 1, and go_mod_version prints nothing and returns 1, when
# there is no such go or no `go` line; an empty version is never "at least" anything.
#
# go_at_least <version>: prints the path of the first of `go` on PATH and
# /usr/local/go/bin/go whose version is at least <version>; returns 1 if none is.
# go_mod_version <go.mod>: the version a go.mod's `go` line asks for.
# use_go_at_least <version>: puts that go's directory first on PATH, for scripts that
# then call `go` by name; returns 1 (PATH unchanged) if none is new enough.
go_at_least() {
  local need="$1" candidate have
  [ -n "$need" ] || return 1  # sort -V puts "" first: every go would pass
  for candidate in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    have="$("$candidate" env GOVERSION 2>/dev/null)"
    have="${have#go}"
    [ -n "$have" ] || continue
    if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" = "$need" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

go_mod_version() {
  local v
  v="$(sed -n 's/^go \([0-9][0-9.]*\)\r\{0,1\}$/\1/p' "$1" 2>/dev/null | head -n1)"
  [ -n "$v" ] || return 1
  echo "$v"
}

use_go_at_least() {
  local go_bin
  go_bin="$(go_at_least "$1")" || return 1
  PATH="$(dirname "$go_bin"):$PATH"
  export PATH
}
