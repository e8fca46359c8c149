// ipc.h: the keeper <-> worker protocol: typed, framed, versioned messages.
//
// SECURITY: the keeper trusts nothing the worker sends (the worker parses client
// input and may be compromised), and the worker trusts only well-formed messages. One
// message is one SOCK_SEQPACKET packet of at most kMaxPacket bytes, held in locked
// memory on both sides (credential messages carry a password). Readers consume a
// message exactly: a short, long or mistyped message is malformed, and a malformed
// message ends the process that received it (OpenSMTPD's m_end rule).
// ERRORS: Reader methods return false on malformed input; the caller treats that as
// fatal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "foundation/secret.h"
#include "sidecar/ipc/credential.h"
#include "sidecar/ipc/keeper_figures.h"

namespace sidecar::ipc {

inline constexpr std::uint32_t kMagic = 0x53434950;  // "SCIP"
// Bump on every change to MessageType or to any message's fields.
inline constexpr std::uint16_t kVersion = 7;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kMaxPacket = 64 * 1024;
inline constexpr std::string_view kProtocolName = "smtp-sidecar-keeper/1";

enum class MessageType : std::uint16_t {
  Hello = 1,              // both ways, first message: protocol name
  CredentialRequest = 2,  // worker -> keeper: the credential for one send: path index
  Credential = 3,         // keeper -> worker: path, lease_id, generation, kind, username, secret
  NoCredential = 4,       // keeper -> worker: none available (no fields)
  CredentialRefused = 5,  // worker -> keeper: the SMTP server said 535 for this lease
  CredentialRetired = 6,  // keeper -> worker: lease revoked; close its SMTP connections
  Status = 7,             // keeper -> worker: ready flag and seconds to expiry
  PeerChannel = 8,        // supervisor -> role: the socket to the other role (SCM_RIGHTS)
  SecretId = 9,           // supervisor -> keeper: the secret_id taken from the environment
  MetricsRequest = 10,    // worker -> keeper: the keeper's figures, for GET /metrics
  Metrics = 11,           // keeper -> worker: telemetry::KeeperFigures as typed fields
  SpoolKeyRequest = 12,   // worker -> keeper: the spool's wrapped data key ("": a new one)
  SpoolKey = 13,          // keeper -> worker: the wrapped data key and its plaintext
  HandoffMemory = 14,     // supervisor -> keeper: the hand-off record's memory (SCM_RIGHTS)
  HandoffState = 15,      // keeper -> its successor, in that memory: handoff.h
  SpoolKeyLost = 16,      // keeper -> worker: Transit cannot decrypt that wrapped key, for good
  kLast = SpoolKeyLost,   // the highest type a reader accepts
};

const char* toString(MessageType type) noexcept;

// One message's bytes in locked memory. Each end of a channel keeps one Packet for
// sending and one for receiving and reuses them, so passing a message allocates
// nothing; wipe() clears what a message left (it may have carried a credential).
class Packet {
 public:
  Packet() : bytes_(kMaxPacket) {}
  std::string_view view() const noexcept { return {bytes_.cString().pointer, size_}; }
  char* data() noexcept { return bytes_.mutableData(); }
  std::size_t size() const noexcept { return size_; }
  void setSize(std::size_t size) noexcept { size_ = size; }
  void wipe() noexcept;

 private:
  foundation::SecretBytes bytes_;
  std::size_t size_ = 0;
};

// Builds one message into a Packet (whose previous content it replaces).
class Writer {
 public:
  Writer(MessageType type, std::uint32_t request_id, Packet& out);
  Writer& u32(std::uint32_t value);
  Writer& u64(std::uint64_t value);
  Writer& str(std::string_view value);
  Writer& secret(const foundation::SecretBytes& value);
  // Completes the header. False (and an empty packet) if it would exceed kMaxPacket.
  bool finish();

 private:
  void append(const void* bytes, std::size_t len);
  Packet& out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// Reads one received packet. Every getter returns false on malformed input.
class Reader {
 public:
  explicit Reader(std::string_view packet) : packet_(packet) {}
  bool header();  // checks magic, version, length; sets type() and requestId()
  MessageType type() const noexcept { return type_; }
  std::uint32_t requestId() const noexcept { return request_id_; }
  bool u32(std::uint32_t& out);
  bool u64(std::uint64_t& out);
  bool str(std::string& out, std::size_t max_len);
  bool secret(foundation::SecretBytes& out, std::size_t max_len);
  // A secret field's bytes where they are, in the received (locked) packet: valid
  // until the packet is wiped or reused, and never to be copied into ordinary memory.
  bool secretView(std::string_view& out, std::size_t max_len);
  bool end() const noexcept { return pos_ == packet_.size(); }

 private:
  bool take(void* out, std::size_t len);
  std::string_view packet_;
  std::size_t pos_ = 0;
  MessageType type_{};
  std::uint32_t request_id_ = 0;
};

// Typed messages on top of Writer/Reader, so each one has one encoder and one decoder.
// A Credential message read in place (the only decoded form): the secrets are views into
// the received packet,
// so a receiver that already holds this credential can recognise it without copying
// it into new locked memory (the worker does this for every send).
struct CredentialView {
  std::string credential_path;
  std::string lease_id;
  std::uint64_t generation = 0;
  CredentialKind kind = CredentialKind::Password;
  std::string_view username;
  std::string_view password;  // or the OAuth2 access token
};
struct LeaseMessage {  // CredentialRefused, CredentialRetired
  std::string lease_id;
};
struct StatusMessage {
  bool ready = false;
  // Seconds the least-lasting current credential remains valid (0: a path has none).
  std::uint64_t valid_seconds = 0;
  // Why not ready: a fixed word of [a-z_] (empty when ready), e.g. "no_credential",
  // "vault_not_answering", "approle_locked_out", "secret_id_rejected".
  std::string reason;
};

bool encodeHello(Packet& out);
// `path_index`: into Config::credentialPaths(), the profile's credential path.
bool encodeCredentialRequest(std::uint32_t request_id, std::uint32_t path_index, Packet& out);
// A password is at most kMaxPasswordBytes, an access token at most kMaxTokenBytes (a
// JWT with claims; Entra ID's are under 8 KiB).
inline constexpr std::size_t kMaxPasswordBytes = 4096;
inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;
bool encodeCredential(std::uint32_t request_id, std::string_view credential_path,
                      std::string_view lease_id, std::uint64_t generation, CredentialKind kind,
                      const foundation::SecretBytes& username,
                      const foundation::SecretBytes& password, Packet& out);
bool encodeNoCredential(std::uint32_t request_id, Packet& out);
bool encodeLease(MessageType type, const LeaseMessage& m, Packet& out);
bool encodeStatus(const StatusMessage& m, Packet& out);
bool encodePeerChannel(Packet& out);  // the channel travels as SCM_RIGHTS
bool encodeSecretId(const foundation::SecretBytes& secret_id, Packet& out);
bool encodeMetricsRequest(std::uint32_t request_id, Packet& out);
// The spool's data key (sidecar/spool/format.h): the worker sends the Transit-wrapped
// form it keeps beside the spool (empty when it has none yet); the keeper unwraps it,
// or has Transit make a new one, and answers SpoolKey, or NoCredential (retry later),
// or SpoolKeyLost: Transit answered that the configured key cannot decrypt it (the key
// is gone or another one has its name), with Transit's words (never a secret).
inline constexpr std::size_t kMaxWrappedKey = 1024;
inline constexpr std::size_t kSpoolKeyBytes = 32;
inline constexpr std::size_t kMaxSpoolKeyLostReason = 512;
bool encodeSpoolKeyRequest(std::uint32_t request_id, std::string_view wrapped, Packet& out);
bool encodeSpoolKey(std::uint32_t request_id, std::string_view wrapped,
                    const foundation::SecretBytes& key, Packet& out);
// A reason longer than kMaxSpoolKeyLostReason is cut (the keeper must always answer).
bool encodeSpoolKeyLost(std::uint32_t request_id, std::string_view reason, Packet& out);
// Lists longer than telemetry::kMaxFigureEntries and names longer than their limits
// are cut (never a failure: the keeper must always be able to answer).
bool encodeMetrics(std::uint32_t request_id, const telemetry::KeeperFigures& figures, Packet& out);

// Decoders take a Reader whose header() succeeded and return false unless the payload
// is exactly the fields of that type.
bool decodeHello(Reader& r);
bool decodeCredentialRequest(Reader& r, std::uint32_t& path_index);
bool decodeCredentialView(Reader& r, CredentialView& out);
bool decodeNoCredential(Reader& r);
bool decodeLease(Reader& r, LeaseMessage& out);
bool decodeStatus(Reader& r, StatusMessage& out);
bool decodePeerChannel(Reader& r);
bool decodeSecretId(Reader& r, foundation::SecretBytes& secret_id);
bool decodeMetricsRequest(Reader& r);
bool decodeSpoolKeyRequest(Reader& r, std::string& wrapped);
// Also refuses a key that is not kSpoolKeyBytes long.
bool decodeSpoolKey(Reader& r, std::string& wrapped, foundation::SecretBytes& key);
// Also refuses an empty reason and control characters in it (it goes into a log line).
bool decodeSpoolKeyLost(Reader& r, std::string& reason);
// Also refuses names outside [a-z0-9_], status classes other than 1xx..5xx and error,
// control characters in a path, and counts of a list above its limit.
bool decodeMetrics(Reader& r, telemetry::KeeperFigures& out);

}  // namespace sidecar::ipc
