// format.cc: spool file encoding, sealing and parsing (see format.h).
//
// SECURITY: every read is bounds-checked before it happens; lengths are checked
// against the limits before anything is allocated; integers are little-endian, fixed
// width. The plaintext buffer of a sealed or opened record is wiped before it is
// freed (sodium_memzero): it held the message. Decryption writes into a buffer sized
// from the authenticated length only after the header's length matched the file.
// ERRORS: Result values; nothing here throws (std::bad_alloc aside, bounded by Limits).
#include "sidecar/spool/format.h"

#include <sodium.h>

#include <cstring>

namespace sidecar::spool {
namespace {

using foundation::Error;
using foundation::Result;

Error malformed(const std::string& what) {
  return Error::permanent("spool file: " + what);
}

void putLe(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

void putString(std::string& out, std::string_view value) {
  putLe(out, value.size(), 4);
  out.append(value);
}

// Reads fixed-width integers and length-prefixed strings from a span; every getter
// returns false once the input ran short, and stays false.
class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}
  bool integer(std::uint64_t& out, std::size_t bytes) {
    if (in_.size() - pos_ < bytes) return false;
    out = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      out |= std::uint64_t{static_cast<unsigned char>(in_[pos_ + i])} << (8 * i);
    }
    pos_ += bytes;
    return true;
  }
  template <typename T>
  bool number(T& out, std::size_t bytes = sizeof(T)) {
    std::uint64_t v = 0;
    if (!integer(v, bytes)) return false;
    out = static_cast<T>(v);
    return true;
  }
  bool string(std::string& out, std::size_t max_len, std::size_t length_bytes = 4) {
    std::uint64_t len = 0;
    if (!integer(len, length_bytes) || len > max_len || len > in_.size() - pos_) return false;
    out.assign(in_.substr(pos_, static_cast<std::size_t>(len)));
    pos_ += static_cast<std::size_t>(len);
    return true;
  }
  bool bytes(unsigned char* out, std::size_t len) {
    if (in_.size() - pos_ < len) return false;
    std::memcpy(out, in_.data() + pos_, len);
    pos_ += len;
    return true;
  }
  bool end() const noexcept { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

// Text that will reach an SMTP command or a log line: no control characters at all.
bool printable(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// An SMTP reply's text may be several lines joined by the reply parser; tabs are fine.
bool textWithoutNul(std::string_view s) {
  return s.find('\0') == std::string_view::npos;
}

std::string headerBytes(Kind kind, const std::array<unsigned char, kKeyIdLength>& key_id,
                        std::string_view id, const unsigned char* nonce,
                        std::uint64_t ciphertext_length) {
  std::string out;
  out.reserve(kHeaderLength);
  out.append(kMagic);
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(kind));
  out.append(2, '\0');
  out.append(reinterpret_cast<const char*>(key_id.data()), key_id.size());
  out.append(id);
  out.append(reinterpret_cast<const char*>(nonce), kNonceLength);
  putLe(out, ciphertext_length, 8);
  return out;
}

// Wipes a std::string's bytes (capacity included) before it is freed.
void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

}  // namespace

const char* toString(State state) noexcept {
  switch (state) {
    case State::Queued:
      return "queued";
    case State::Retrying:
      return "retrying";
    case State::Sent:
      return "sent";
    case State::Failed:
      return "failed";
  }
  return "unknown";
}

const char* toString(RecipientState state) noexcept {
  switch (state) {
    case RecipientState::Pending:
      return "pending";
    case RecipientState::Delivered:
      return "delivered";
    case RecipientState::Failed:
      return "failed";
  }
  return "unknown";
}

bool validId(std::string_view id) noexcept {
  if (id.size() != kIdLength) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::array<unsigned char, kKeyIdLength> keyIdOf(std::string_view wrapped) {
  std::array<unsigned char, kKeyIdLength> id{};
  // BLAKE2b with a fixed personal context, so the id cannot collide with another use.
  static constexpr unsigned char kContext[] = "smtp-sidecar spool key id";
  crypto_generichash(id.data(), id.size(), reinterpret_cast<const unsigned char*>(wrapped.data()),
                     wrapped.size(), kContext, sizeof kContext - 1);
  return id;
}

std::string encodeRecord(const Record& r) {
  std::string out;
  out.reserve(256 + r.message.size());
  out.push_back(static_cast<char>(r.kind));
  putString(out, r.id);
  out.push_back(static_cast<char>(r.state));
  putLe(out, r.accepted_unix_ms, 8);
  putLe(out, r.deadline_unix_ms, 8);
  putLe(out, r.finished_unix_ms, 8);
  putLe(out, r.attempts, 4);
  putString(out, r.profile);
  putString(out, r.credential_path);
  putLe(out, r.uid, 4);
  putLe(out, r.pid, 4);
  putString(out, r.message_id);
  putString(out, r.idempotency_key);
  putString(out, r.request_digest);
  putString(out, r.from);
  putLe(out, r.recipients.size(), 4);
  for (const auto& rcpt : r.recipients) {
    putString(out, rcpt.address);
    out.push_back(static_cast<char>(rcpt.state));
    putLe(out, rcpt.last_code, 2);
  }
  putString(out, r.last_outcome);
  putLe(out, r.last_code, 2);
  putString(out, r.last_text);
  putLe(out, r.message.size(), 8);
  out.append(r.message);
  return out;
}

Result<Record> parseRecord(std::string_view plaintext, const Limits& limits, std::uint8_t version) {
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return malformed("unsupported version");
  }
  Cursor c(plaintext);
  Record r;
  std::uint8_t kind = 0;
  std::uint8_t state = 0;
  if (!c.number(kind) || (kind != 1 && kind != 2)) return malformed("unknown record kind");
  r.kind = static_cast<Kind>(kind);
  if (!c.string(r.id, kIdLength) || !validId(r.id)) return malformed("bad message id");
  if (!c.number(state) || state > 3) return malformed("unknown message state");
  r.state = static_cast<State>(state);
  const bool finished = r.kind == Kind::Finished;
  if (finished != (r.state == State::Sent || r.state == State::Failed)) {
    return malformed("state does not fit the record kind");
  }
  if (!c.number(r.accepted_unix_ms) || !c.number(r.deadline_unix_ms) ||
      !c.number(r.finished_unix_ms) || !c.number(r.attempts)) {
    return malformed("truncated times");
  }
  if (!c.string(r.profile, limits.max_name) || !printable(r.profile) ||
      !c.string(r.credential_path, limits.max_name) || !printable(r.credential_path) ||
      !c.number(r.uid) || !c.number(r.pid) || !c.string(r.message_id, limits.max_name) ||
      !printable(r.message_id) || !c.string(r.idempotency_key, limits.max_name) ||
      !printable(r.idempotency_key)) {
    return malformed("bad origin fields");
  }
  // Version 1 had no digest: such a record answers its key whatever the content.
  if (version >= 2 &&
      (!c.string(r.request_digest, 2 * crypto_generichash_BYTES) || !printable(r.request_digest))) {
    return malformed("bad request digest");
  }
  if (!c.string(r.from, limits.max_address) || !printable(r.from)) {
    return malformed("bad envelope sender");
  }
  std::uint32_t count = 0;
  if (!c.number(count) || count == 0 || count > limits.max_recipients) {
    return malformed("recipient count out of range");
  }
  r.recipients.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Recipient rcpt;
    std::uint8_t rcpt_state = 0;
    if (!c.string(rcpt.address, limits.max_address) || rcpt.address.empty() ||
        !printable(rcpt.address) || !c.number(rcpt_state) || rcpt_state > 2 ||
        !c.number(rcpt.last_code) || rcpt.last_code > 599) {
      return malformed("bad recipient");
    }
    rcpt.state = static_cast<RecipientState>(rcpt_state);
    r.recipients.push_back(std::move(rcpt));
  }
  if (!c.string(r.last_outcome, 64) || !printable(r.last_outcome) || !c.number(r.last_code) ||
      r.last_code > 599 || !c.string(r.last_text, limits.max_text) ||
      !textWithoutNul(r.last_text)) {
    return malformed("bad last attempt");
  }
  if (!c.string(r.message, limits.max_message_bytes, 8)) return malformed("bad message length");
  if (!c.end()) return malformed("bytes after the record");
  if (finished != r.message.empty()) return malformed("message body does not fit the kind");
  return r;
}

Result<Header> parseHeader(std::string_view file, const Limits& limits) {
  if (file.size() < kHeaderLength) return malformed("shorter than its header (truncated)");
  if (file.substr(0, kMagic.size()) != kMagic) return malformed("not a spool file (magic)");
  Cursor c(file.substr(kMagic.size()));
  Header h;
  std::uint8_t version = 0;
  std::uint8_t kind = 0;
  std::uint16_t reserved = 0;
  (void)c.number(version);
  (void)c.number(kind);
  (void)c.number(reserved);
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return malformed("unsupported version");
  }
  h.version = version;
  if ((kind != 1 && kind != 2) || reserved != 0) return malformed("unknown kind");
  h.kind = static_cast<Kind>(kind);
  (void)c.bytes(h.key_id.data(), h.key_id.size());
  h.id.resize(kIdLength);
  (void)c.bytes(reinterpret_cast<unsigned char*>(h.id.data()), kIdLength);
  if (!validId(h.id)) return malformed("bad message id in the header");
  (void)c.bytes(h.nonce.data(), h.nonce.size());
  (void)c.number(h.ciphertext_length);
  // The largest record a message of max_message_bytes can make: the message, its
  // recipients and the fixed fields, generously.
  const std::uint64_t max_plaintext = std::uint64_t{limits.max_message_bytes} +
                                      limits.max_recipients * (limits.max_address + 8) +
                                      6 * limits.max_name + 2 * limits.max_text + 4096;
  if (h.ciphertext_length < kTagLength || h.ciphertext_length > max_plaintext + kTagLength) {
    return malformed("ciphertext length out of range");
  }
  if (file.size() - kHeaderLength != h.ciphertext_length) {
    return malformed(file.size() - kHeaderLength < h.ciphertext_length
                         ? "shorter than its header says (truncated)"
                         : "longer than its header says");
  }
  return h;
}

Result<std::string> seal(const Record& record, const DataKey& key) {
  if (key.key.size() != kKeyLength) return Error::internal("spool: data key of the wrong size");
  if (!validId(record.id)) return Error::internal("spool: bad message id");
  std::string plaintext = encodeRecord(record);
  unsigned char nonce[kNonceLength];
  randombytes_buf(nonce, sizeof nonce);
  const std::uint64_t ciphertext_length = plaintext.size() + kTagLength;
  std::string file = headerBytes(record.kind, key.id, record.id, nonce, ciphertext_length);
  file.resize(kHeaderLength + ciphertext_length);
  unsigned long long written = 0;
  const int rc = key.key.reveal([&](std::string_view k) {
    return crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(file.data() + kHeaderLength), &written,
        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
        reinterpret_cast<const unsigned char*>(file.data()), kHeaderLength, nullptr, nonce,
        reinterpret_cast<const unsigned char*>(k.data()));
  });
  wipe(plaintext);
  if (rc != 0 || written != ciphertext_length) return Error::internal("spool: encryption failed");
  return file;
}

Result<Record> open(std::string_view file, const DataKey& key, const Limits& limits) {
  if (key.key.size() != kKeyLength) return Error::internal("spool: data key of the wrong size");
  auto header = parseHeader(file, limits);
  if (!header) return header.error();
  if (sodium_memcmp(header->key_id.data(), key.id.data(), kKeyIdLength) != 0) {
    return malformed("sealed under another data key");
  }
  std::string plaintext(static_cast<std::size_t>(header->ciphertext_length - kTagLength), '\0');
  unsigned long long length = 0;
  const int rc = key.key.reveal([&](std::string_view k) {
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        reinterpret_cast<unsigned char*>(plaintext.data()), &length, nullptr,
        reinterpret_cast<const unsigned char*>(file.data() + kHeaderLength),
        static_cast<unsigned long long>(header->ciphertext_length),
        reinterpret_cast<const unsigned char*>(file.data()), kHeaderLength, header->nonce.data(),
        reinterpret_cast<const unsigned char*>(k.data()));
  });
  if (rc != 0) {
    wipe(plaintext);
    return malformed("authentication failed (tampered or corrupt)");
  }
  auto record = parseRecord(std::string_view(plaintext.data(), static_cast<std::size_t>(length)),
                            limits, header->version);
  wipe(plaintext);
  if (!record) return record.error();
  if (record->kind != header->kind || record->id != header->id) {
    return malformed("record does not match its header");
  }
  return record;
}

}  // namespace sidecar::spool
