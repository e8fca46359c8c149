// format.h: the spool file format: one encrypted file per accepted asynchronous
// message, and one per finished message's final status.
//
// SECURITY: a spool file is untrusted input. The disk may be shared with other
// software, restored from a backup, truncated by a crash, or edited by someone who
// wants a message sent twice or to another recipient. Everything after the fixed
// header is sealed with XChaCha20-Poly1305 (libsodium's IETF AEAD) under the spool's
// data key; the header (magic, version, kind, key id, message id, nonce, length) is
// the AEAD's associated data, so a file renamed to another id, moved to another kind
// or cut short does not open. The plaintext is parsed only after it authenticated,
// and then with the same limits as if it had not (a bug or a stolen key must not turn
// into a crash). Parsing is pure: no I/O, no allocation beyond the limits below.
// The data key is a foundation::SecretBytes in locked memory; it never appears in a file.
// ERRORS: Permanent "spool file: ..." for anything that is not a well-formed file of
// the expected kind and id; the caller quarantines the file. Internal for a data key
// of the wrong size.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace sidecar::spool {

inline constexpr std::string_view kMagic = "SCSPOOL1";
// Version 2 added the request digest (Idempotency-Key); version 1 files still open.
inline constexpr std::uint8_t kFormatVersion = 2;
inline constexpr std::uint8_t kOldestFormatVersion = 1;
// A message id: 32 lower-case hex digits (128 random bits), also the file's name.
inline constexpr std::size_t kIdLength = 32;
inline constexpr std::size_t kKeyIdLength = 8;
inline constexpr std::size_t kNonceLength = 24;  // crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
inline constexpr std::size_t kTagLength = 16;    // crypto_aead_xchacha20poly1305_ietf_ABYTES
inline constexpr std::size_t kKeyLength = 32;    // crypto_aead_xchacha20poly1305_ietf_KEYBYTES
// magic, version, kind, reserved(2), key id, id, nonce, ciphertext length (u64).
inline constexpr std::size_t kHeaderLength =
    8 + 1 + 1 + 2 + kKeyIdLength + kIdLength + kNonceLength + 8;

// Limits of the plaintext record. Larger than any value the sidecar itself accepts
// (listen.max_message_bytes is at most 1 GiB; 100 recipients per message).
struct Limits {
  std::size_t max_message_bytes = std::size_t{1} << 30;
  std::size_t max_recipients = 1000;
  std::size_t max_address = 512;  // RFC 5321 path: 256; some slack for quoting
  std::size_t max_text = 4096;    // an SMTP reply's text, our detail
  std::size_t max_name = 1024;    // profile, credential path, Message-ID, Idempotency-Key
};

enum class Kind : std::uint8_t {
  Message = 1,   // accepted, not finished: the message and its envelope
  Finished = 2,  // its final status, kept for GET /v1/messages/{id} (retention)
};

enum class State : std::uint8_t { Queued = 0, Retrying = 1, Sent = 2, Failed = 3 };
enum class RecipientState : std::uint8_t {
  Pending = 0,    // not yet accepted by the server (never tried, or deferred with 4xx)
  Delivered = 1,  // the server answered 2xx to RCPT and to DATA
  Failed = 2,     // refused for good (5xx), or still deferred when the retry period ended
};

struct Recipient {
  std::string address;
  RecipientState state = RecipientState::Pending;
  std::uint16_t last_code = 0;  // the server's last reply to this recipient (0: none)

  bool operator==(const Recipient&) const = default;
};

// What is kept of one message. Times are Unix milliseconds (wall clock): a record
// outlives the process and the boot, so steady_clock cannot be used.
struct Record {
  Kind kind = Kind::Message;
  std::string id;
  State state = State::Queued;
  std::uint64_t accepted_unix_ms = 0;
  std::uint64_t deadline_unix_ms = 0;  // retries end here (smtp.retry_for after acceptance)
  std::uint64_t finished_unix_ms = 0;  // Finished only
  std::uint32_t attempts = 0;
  std::string profile;
  std::string credential_path;
  std::uint32_t uid = 0;
  std::uint32_t pid = 0;
  std::string message_id;       // the Message-ID header (may be empty)
  std::string idempotency_key;  // the client's Idempotency-Key (may be empty)
  // With a key: the BLAKE2b digest (hex) of the request it came with, so that the same
  // key with other content is refused instead of answered with this message (v2).
  std::string request_digest;
  std::string from;  // may be empty: the null reverse-path
  std::vector<Recipient> recipients;
  // The last attempt: outcome word (relay::toString), SMTP code and text.
  std::string last_outcome;
  std::uint16_t last_code = 0;
  std::string last_text;
  std::string message;  // Message only: the RFC 5322 message (CRLF); empty for Finished

  bool operator==(const Record&) const = default;
};

// The header fields, readable without the key (to name, account and quarantine a file).
struct Header {
  Kind kind = Kind::Message;
  std::array<unsigned char, kKeyIdLength> key_id{};
  std::string id;
  std::array<unsigned char, kNonceLength> nonce{};
  std::uint64_t ciphertext_length = 0;
  std::uint8_t version = kFormatVersion;
};

// The spool's data key and its id (the first bytes of a BLAKE2b hash of its wrapped
// form), so that a file sealed under another key is named as such, not as tampered.
struct DataKey {
  foundation::SecretBytes key;  // kKeyLength bytes
  std::array<unsigned char, kKeyIdLength> id{};
};
// The id of the data key whose Transit-wrapped form is `wrapped` ("vault:v1:...").
std::array<unsigned char, kKeyIdLength> keyIdOf(std::string_view wrapped);

bool validId(std::string_view id) noexcept;

// The plaintext record (without header and encryption), and back. parseRecord checks
// every field against `limits` and the kind's rules, and that nothing follows.
std::string encodeRecord(const Record& record);
// `version` is the file header's (kOldestFormatVersion..kFormatVersion).
foundation::Result<Record> parseRecord(std::string_view plaintext, const Limits& limits = {},
                                       std::uint8_t version = kFormatVersion);

// The header of a whole file; checks that the file is exactly header + ciphertext.
foundation::Result<Header> parseHeader(std::string_view file, const Limits& limits = {});

// A whole file: header, then the record sealed under `key` with a fresh random nonce.
foundation::Result<std::string> seal(const Record& record, const DataKey& key);
// Opens a whole file: header, key id, authentication, then parseRecord. The record's
// kind and id must be the header's.
foundation::Result<Record> open(std::string_view file, const DataKey& key,
                                const Limits& limits = {});

const char* toString(State state) noexcept;
const char* toString(RecipientState state) noexcept;

}  // namespace sidecar::spool
