// keeper_answers.h: the parts of the keeper's answers to the worker (keeper_main.cc)
// that need neither the poll loop nor Vault, so they are tested on their own: the check
// of the worker's wrapped spool key before it reaches Transit, and the figures for the
// worker's GET /metrics built from the Vault thread's published state.
//
// SECURITY: the wrapped key is worker input (untrusted): only Transit's ciphertext shape
// passes (Transit decrypts it only under this app's key, so a worker learns nothing but
// a key made for its own spool). The figures carry counts, seconds and credential paths,
// never a lease id or a secret.
// ERRORS: none.
#pragma once

#include <cstdint>
#include <string_view>

#include "foundation/clock.h"
#include "sidecar/ipc/keeper_figures.h"
#include "sidecar/keeper/vault_call_thread.h"

namespace sidecar::keeper {

// Empty (make a new data key) or "vault:v<n>:" + base64: what Transit answers.
bool spoolKeyShaped(std::string_view wrapped);

// The keeper's figures from `state` at `now` (`now_unix`: the wall clock, for the
// secret_id's expiry). The Vault request counts are the caller's (VaultRequests::fill).
telemetry::KeeperFigures keeperFigures(const KeeperState& state, foundation::SteadyTime now,
                                       std::uint64_t now_unix);

}  // namespace sidecar::keeper
