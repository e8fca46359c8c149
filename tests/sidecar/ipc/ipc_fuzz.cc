// ipc_fuzz.cc: libFuzzer target for the keeper <-> worker message decoder (what the
// keeper reads from a possibly compromised worker, and vice versa).
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/ipc/handoff.h"
#include "sidecar/ipc/ipc.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool initialised = (foundation::initSecretMemoryOrDie(), true);
  (void)initialised;
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  using namespace sidecar::ipc;
  Reader r(wire);
  if (!r.header()) return 0;
  CredentialView credential;
  LeaseMessage lease;
  StatusMessage status;
  sidecar::telemetry::KeeperFigures figures;
  switch (r.type()) {
    case MessageType::Hello:
      (void)decodeHello(r);
      break;
    case MessageType::Credential:
      (void)decodeCredentialView(r, credential);
      break;
    case MessageType::NoCredential:
      (void)decodeNoCredential(r);
      break;
    case MessageType::CredentialRefused:
    case MessageType::CredentialRetired:
      (void)decodeLease(r, lease);
      break;
    case MessageType::Status:
      (void)decodeStatus(r, status);
      break;
    case MessageType::CredentialRequest: {
      std::uint32_t path_index = 0;
      (void)decodeCredentialRequest(r, path_index);
      break;
    }
    case MessageType::MetricsRequest:
      (void)decodeMetricsRequest(r);
      break;
    case MessageType::SpoolKeyRequest: {
      std::string wrapped;
      (void)decodeSpoolKeyRequest(r, wrapped);
      break;
    }
    case MessageType::SpoolKey: {
      std::string wrapped;
      foundation::SecretBytes key;
      if (decodeSpoolKey(r, wrapped, key) && key.size() != kSpoolKeyBytes) __builtin_trap();
      break;
    }
    case MessageType::SpoolKeyLost: {
      std::string reason;
      if (decodeSpoolKeyLost(r, reason)) {
        for (const char c : reason) {
          if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();  // it goes into a log line
        }
      }
      break;
    }
    case MessageType::Metrics:
      // A decoded message re-encodes to the same bytes (nothing is lost or invented).
      if (decodeMetrics(r, figures)) {
        static Packet again;
        if (!encodeMetrics(r.requestId(), figures, again) || again.view() != wire) __builtin_trap();
      }
      break;
    case MessageType::PeerChannel:
      (void)decodePeerChannel(r);
      break;
    case MessageType::SecretId: {
      foundation::SecretBytes secret_id;
      (void)decodeSecretId(r, secret_id);
      break;
    }
    case MessageType::HandoffMemory:
      (void)decodeHandoffMemory(r);
      break;
    case MessageType::HandoffState: {
      // A decoded record re-encodes to the same bytes.
      HandoffState state;
      if (decodeHandoffState(r, state) && wire.size() <= kMaxHandoffBody) {
        static Packet again;
        if (!encodeHandoffState(state, again) || again.view() != wire) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
