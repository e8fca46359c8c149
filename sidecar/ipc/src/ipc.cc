// ipc.cc: keeper <-> worker message encoding (see ipc.h).
//
// SECURITY: decoding is bounds-checked at every field; integers are little-endian
// fixed width; strings and secrets are length-prefixed with per-field maxima.
// ERRORS: false from any reader or writer on malformed or oversized messages.
#include "sidecar/ipc/ipc.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace sidecar::ipc {
namespace {

constexpr std::size_t kMaxLeaseId = 1024;
constexpr std::size_t kMaxCredentialField = 4096;

void putLe(unsigned char* out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

std::uint64_t getLe(const unsigned char* in, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::uint64_t{in[i]} << (8 * i);
  return value;
}

}  // namespace

const char* toString(MessageType type) noexcept {
  switch (type) {
    case MessageType::Hello:
      return "hello";
    case MessageType::CredentialRequest:
      return "credential_request";
    case MessageType::Credential:
      return "credential";
    case MessageType::NoCredential:
      return "no_credential";
    case MessageType::CredentialRefused:
      return "credential_refused";
    case MessageType::CredentialRetired:
      return "credential_retired";
    case MessageType::Status:
      return "status";
    case MessageType::PeerChannel:
      return "peer_channel";
    case MessageType::SecretId:
      return "secret_id";
    case MessageType::MetricsRequest:
      return "metrics_request";
    case MessageType::Metrics:
      return "metrics";
    case MessageType::SpoolKeyRequest:
      return "spool_key_request";
    case MessageType::SpoolKey:
      return "spool_key";
    case MessageType::HandoffMemory:
      return "handoff_memory";
    case MessageType::HandoffState:
      return "handoff_state";
    case MessageType::SpoolKeyLost:
      return "spool_key_lost";
  }
  return "unknown";
}

void Packet::wipe() noexcept {
  sodium_memzero(bytes_.mutableData(), size_);
  size_ = 0;
}

Writer::Writer(MessageType type, std::uint32_t request_id, Packet& out) : out_(out) {
  out_.wipe();
  unsigned char header[kHeaderSize];
  putLe(header, kMagic, 4);
  putLe(header + 4, kVersion, 2);
  putLe(header + 6, static_cast<std::uint16_t>(type), 2);
  putLe(header + 8, request_id, 4);
  putLe(header + 12, 0, 4);  // payload length, filled in by finish()
  append(header, sizeof header);
}

void Writer::append(const void* bytes, std::size_t len) {
  if (overflow_ || len > kMaxPacket - size_) {
    overflow_ = true;
    return;
  }
  std::memcpy(out_.data() + size_, bytes, len);
  size_ += len;
}

Writer& Writer::u32(std::uint32_t value) {
  unsigned char b[4];
  putLe(b, value, 4);
  append(b, 4);
  return *this;
}

Writer& Writer::u64(std::uint64_t value) {
  unsigned char b[8];
  putLe(b, value, 8);
  append(b, 8);
  return *this;
}

Writer& Writer::str(std::string_view value) {
  u32(static_cast<std::uint32_t>(value.size()));
  append(value.data(), value.size());
  return *this;
}

Writer& Writer::secret(const foundation::SecretBytes& value) {
  u32(static_cast<std::uint32_t>(value.size()));
  value.reveal([&](std::string_view bytes) { append(bytes.data(), bytes.size()); });
  return *this;
}

bool Writer::finish() {
  out_.setSize(size_);
  if (overflow_) {
    out_.wipe();
    return false;
  }
  putLe(reinterpret_cast<unsigned char*>(out_.data()) + 12, size_ - kHeaderSize, 4);
  return true;
}

bool Reader::take(void* out, std::size_t len) {
  if (len > packet_.size() - pos_) return false;
  std::memcpy(out, packet_.data() + pos_, len);
  pos_ += len;
  return true;
}

bool Reader::header() {
  unsigned char h[kHeaderSize];
  if (packet_.size() > kMaxPacket || !take(h, sizeof h)) return false;
  if (getLe(h, 4) != kMagic || getLe(h + 4, 2) != kVersion) return false;
  const auto type = static_cast<std::uint16_t>(getLe(h + 6, 2));
  if (type < static_cast<std::uint16_t>(MessageType::Hello) ||
      type > static_cast<std::uint16_t>(MessageType::kLast)) {
    return false;
  }
  type_ = static_cast<MessageType>(type);
  request_id_ = static_cast<std::uint32_t>(getLe(h + 8, 4));
  return getLe(h + 12, 4) == packet_.size() - kHeaderSize;
}

bool Reader::u32(std::uint32_t& out) {
  unsigned char b[4];
  if (!take(b, 4)) return false;
  out = static_cast<std::uint32_t>(getLe(b, 4));
  return true;
}

bool Reader::u64(std::uint64_t& out) {
  unsigned char b[8];
  if (!take(b, 8)) return false;
  out = getLe(b, 8);
  return true;
}

bool Reader::str(std::string& out, std::size_t max_len) {
  std::uint32_t len = 0;
  if (!u32(len) || len > max_len || len > packet_.size() - pos_) return false;
  out.assign(packet_.data() + pos_, len);
  pos_ += len;
  return true;
}

bool Reader::secret(foundation::SecretBytes& out, std::size_t max_len) {
  std::uint32_t len = 0;
  if (!u32(len) || len > max_len || len > packet_.size() - pos_) return false;
  out = foundation::SecretBytes::copyOf(packet_.substr(pos_, len));
  pos_ += len;
  return true;
}

bool Reader::secretView(std::string_view& out, std::size_t max_len) {
  std::uint32_t len = 0;
  if (!u32(len) || len > max_len || len > packet_.size() - pos_) return false;
  out = packet_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool encodeHello(Packet& out) {
  return Writer(MessageType::Hello, 0, out).str(kProtocolName).finish();
}

bool encodeCredentialRequest(std::uint32_t request_id, std::uint32_t path_index, Packet& out) {
  return Writer(MessageType::CredentialRequest, request_id, out).u32(path_index).finish();
}

bool encodeCredential(std::uint32_t request_id, std::string_view credential_path,
                      std::string_view lease_id, std::uint64_t generation, CredentialKind kind,
                      const foundation::SecretBytes& username,
                      const foundation::SecretBytes& password, Packet& out) {
  return Writer(MessageType::Credential, request_id, out)
      .str(credential_path)
      .str(lease_id)
      .u64(generation)
      .u32(static_cast<std::uint32_t>(kind))
      .secret(username)
      .secret(password)
      .finish();
}

bool encodeNoCredential(std::uint32_t request_id, Packet& out) {
  return Writer(MessageType::NoCredential, request_id, out).finish();
}

bool encodeLease(MessageType type, const LeaseMessage& m, Packet& out) {
  return Writer(type, 0, out).str(m.lease_id).finish();
}

// A Status reason is one fixed word (ipc.h).
constexpr std::size_t kMaxStatusReason = 64;

bool encodeStatus(const StatusMessage& m, Packet& out) {
  return Writer(MessageType::Status, 0, out)
      .u32(m.ready ? 1 : 0)
      .u64(m.valid_seconds)
      .str(std::string_view(m.reason).substr(0, kMaxStatusReason))
      .finish();
}

bool decodeHello(Reader& r) {
  std::string name;
  return r.type() == MessageType::Hello && r.str(name, 64) && r.end() && name == kProtocolName;
}

bool decodeCredentialRequest(Reader& r, std::uint32_t& path_index) {
  return r.type() == MessageType::CredentialRequest && r.u32(path_index) && r.end();
}

bool decodeCredentialView(Reader& r, CredentialView& out) {
  std::uint32_t kind = 0;
  if (!(r.type() == MessageType::Credential && r.str(out.credential_path, kMaxLeaseId) &&
        r.str(out.lease_id, kMaxLeaseId) && r.u64(out.generation) && r.u32(kind))) {
    return false;
  }
  // Only the kinds this version knows; the secret's limit follows the kind.
  if (kind == static_cast<std::uint32_t>(CredentialKind::Password)) {
    out.kind = CredentialKind::Password;
  } else if (kind == static_cast<std::uint32_t>(CredentialKind::OAuth2Token)) {
    out.kind = CredentialKind::OAuth2Token;
  } else {
    return false;
  }
  const std::size_t secret_limit =
      out.kind == CredentialKind::OAuth2Token ? kMaxTokenBytes : kMaxPasswordBytes;
  return r.secretView(out.username, kMaxCredentialField) &&
         r.secretView(out.password, secret_limit) && r.end() && !out.username.empty() &&
         !out.password.empty();
}

bool decodeNoCredential(Reader& r) {
  return r.type() == MessageType::NoCredential && r.end();
}

bool decodeLease(Reader& r, LeaseMessage& out) {
  return (r.type() == MessageType::CredentialRefused ||
          r.type() == MessageType::CredentialRetired) &&
         r.str(out.lease_id, kMaxLeaseId) && r.end();
}

bool decodeStatus(Reader& r, StatusMessage& out) {
  std::uint32_t ready = 0;
  if (r.type() != MessageType::Status || !r.u32(ready) || ready > 1 || !r.u64(out.valid_seconds) ||
      !r.str(out.reason, kMaxStatusReason) || !r.end()) {
    return false;
  }
  // A fixed word: it reaches /v1/ready's JSON and logs.
  for (const char c : out.reason) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  out.ready = ready == 1;
  return true;
}

}  // namespace sidecar::ipc

namespace sidecar::ipc {

bool encodePeerChannel(Packet& out) {
  return Writer(MessageType::PeerChannel, 0, out).finish();
}

bool decodePeerChannel(Reader& r) {
  return r.type() == MessageType::PeerChannel && r.end();
}

bool encodeSpoolKeyRequest(std::uint32_t request_id, std::string_view wrapped, Packet& out) {
  return wrapped.size() <= kMaxWrappedKey &&
         Writer(MessageType::SpoolKeyRequest, request_id, out).str(wrapped).finish();
}

bool encodeSpoolKey(std::uint32_t request_id, std::string_view wrapped,
                    const foundation::SecretBytes& key, Packet& out) {
  return wrapped.size() <= kMaxWrappedKey && key.size() == kSpoolKeyBytes &&
         Writer(MessageType::SpoolKey, request_id, out).str(wrapped).secret(key).finish();
}

bool decodeSpoolKeyRequest(Reader& r, std::string& wrapped) {
  return r.type() == MessageType::SpoolKeyRequest && r.str(wrapped, kMaxWrappedKey) && r.end();
}

bool decodeSpoolKey(Reader& r, std::string& wrapped, foundation::SecretBytes& key) {
  return r.type() == MessageType::SpoolKey && r.str(wrapped, kMaxWrappedKey) && !wrapped.empty() &&
         r.secret(key, kSpoolKeyBytes) && key.size() == kSpoolKeyBytes && r.end();
}

bool encodeSpoolKeyLost(std::uint32_t request_id, std::string_view reason, Packet& out) {
  std::string line(reason.substr(0, kMaxSpoolKeyLostReason));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (line.empty()) line = "transit cannot decrypt the spool's data key";
  return Writer(MessageType::SpoolKeyLost, request_id, out).str(line).finish();
}

bool decodeSpoolKeyLost(Reader& r, std::string& reason) {
  if (r.type() != MessageType::SpoolKeyLost || !r.str(reason, kMaxSpoolKeyLostReason) ||
      reason.empty() || !r.end()) {
    return false;
  }
  for (const char c : reason) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool encodeSecretId(const foundation::SecretBytes& secret_id, Packet& out) {
  return Writer(MessageType::SecretId, 0, out).secret(secret_id).finish();
}

bool decodeSecretId(Reader& r, foundation::SecretBytes& secret_id) {
  return r.type() == MessageType::SecretId && r.secret(secret_id, kMaxCredentialField) && r.end() &&
         !secret_id.empty();
}

}  // namespace sidecar::ipc

namespace sidecar::ipc {
namespace {

using telemetry::KeeperFigures;
using telemetry::kMaxFigureEntries;
using telemetry::kMaxFigureName;
using telemetry::kMaxFigurePath;

bool isName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool isStatusClass(std::string_view s) {
  return s == "1xx" || s == "2xx" || s == "3xx" || s == "4xx" || s == "5xx" || s == "error";
}

bool isPath(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

std::string_view cut(std::string_view s, std::size_t max) {
  return s.substr(0, max);
}

std::uint32_t countOf(std::size_t size) {
  return static_cast<std::uint32_t>(std::min(size, kMaxFigureEntries));
}

// A list: its length (u32, at most kMaxFigureEntries), then each entry read by `entry`.
template <typename T, typename Fn>
bool readList(Reader& r, std::vector<T>& out, Fn&& entry) {
  std::uint32_t n = 0;
  if (!r.u32(n) || n > kMaxFigureEntries) return false;
  out.clear();
  out.resize(n);
  for (auto& item : out) {
    if (!entry(item)) return false;
  }
  return true;
}

}  // namespace

bool encodeMetricsRequest(std::uint32_t request_id, Packet& out) {
  return Writer(MessageType::MetricsRequest, request_id, out).finish();
}

bool decodeMetricsRequest(Reader& r) {
  return r.type() == MessageType::MetricsRequest && r.end();
}

bool encodeMetrics(std::uint32_t request_id, const KeeperFigures& f, Packet& out) {
  Writer w(MessageType::Metrics, request_id, out);
  w.u64(f.leases_active)
      .u64(f.lease_renewals)
      .u64(f.lease_renewal_failures)
      .u64(f.token_renewals)
      .u64(f.token_renewal_failures)
      .u64(f.logins)
      .u64(f.login_failures)
      .u64(f.credential_valid_seconds)
      .u64(f.approle_locked_out)
      .u64(f.secret_id_rejected)
      .u64(f.lockouts_detected)
      .u64(f.token_revocations_detected)
      .u64(f.vault_call_stalled);
  w.u32(countOf(f.rotations.size()));
  for (std::size_t i = 0; i < countOf(f.rotations.size()); ++i) {
    w.str(cut(f.rotations[i].name, kMaxFigureName)).u64(f.rotations[i].count);
  }
  w.u32(countOf(f.expiry.size()));
  for (std::size_t i = 0; i < countOf(f.expiry.size()); ++i) {
    w.str(cut(f.expiry[i].path, kMaxFigurePath)).u64(f.expiry[i].seconds);
  }
  w.u32(countOf(f.vault_requests.size()));
  for (std::size_t i = 0; i < countOf(f.vault_requests.size()); ++i) {
    const auto& q = f.vault_requests[i];
    w.str(cut(q.operation, kMaxFigureName)).str(cut(q.status_class, kMaxFigureName)).u64(q.count);
  }
  w.u32(countOf(f.vault_latency.size()));
  for (std::size_t i = 0; i < countOf(f.vault_latency.size()); ++i) {
    const auto& l = f.vault_latency[i];
    w.str(cut(l.operation, kMaxFigureName));
    for (std::uint64_t b : l.buckets) w.u64(b);
    w.u64(l.sum_microseconds);
  }
  w.u32(f.secret_id_expiry_known ? 1 : 0).u64(f.secret_id_expires_seconds);
  return w.finish();
}

bool decodeMetrics(Reader& r, KeeperFigures& f) {
  if (r.type() != MessageType::Metrics) return false;
  if (!r.u64(f.leases_active) || !r.u64(f.lease_renewals) || !r.u64(f.lease_renewal_failures) ||
      !r.u64(f.token_renewals) || !r.u64(f.token_renewal_failures) || !r.u64(f.logins) ||
      !r.u64(f.login_failures) || !r.u64(f.credential_valid_seconds) ||
      !r.u64(f.approle_locked_out) || !r.u64(f.secret_id_rejected) || !r.u64(f.lockouts_detected) ||
      !r.u64(f.token_revocations_detected) || !r.u64(f.vault_call_stalled) ||
      f.approle_locked_out > 1 || f.secret_id_rejected > 1 || f.vault_call_stalled > 1) {
    return false;
  }
  const bool lists =
      readList(r, f.rotations,
               [&](KeeperFigures::Named& n) {
                 return r.str(n.name, kMaxFigureName) && isName(n.name) && r.u64(n.count);
               }) &&
      readList(r, f.expiry,
               [&](KeeperFigures::Expiry& e) {
                 return r.str(e.path, kMaxFigurePath) && isPath(e.path) && r.u64(e.seconds);
               }) &&
      readList(r, f.vault_requests,
               [&](KeeperFigures::Requests& q) {
                 return r.str(q.operation, kMaxFigureName) && isName(q.operation) &&
                        r.str(q.status_class, kMaxFigureName) && isStatusClass(q.status_class) &&
                        r.u64(q.count);
               }) &&
      readList(r, f.vault_latency, [&](KeeperFigures::Latency& l) {
        if (!r.str(l.operation, kMaxFigureName) || !isName(l.operation)) return false;
        for (auto& b : l.buckets) {
          if (!r.u64(b)) return false;
        }
        return r.u64(l.sum_microseconds);
      });
  std::uint32_t known = 0;
  if (!lists || !r.u32(known) || known > 1 || !r.u64(f.secret_id_expires_seconds)) return false;
  f.secret_id_expiry_known = known == 1;
  return r.end();
}

}  // namespace sidecar::ipc
