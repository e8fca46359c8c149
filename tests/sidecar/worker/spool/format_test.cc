// format_test.cc: the spool file format: round trips, and every kind of bad file
// (truncated, corrupt, tampered, renamed, sealed under another key) refused with a
// clear error, never a crash. Table-driven.
//
// SPOOL_WRITE_CORPUS=<dir> makes the "corpus" test case (re)write the fuzz corpus
// (tests/sidecar/spool/format_corpus) from the same samples.
#include "sidecar/spool/format.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <functional>

using namespace sidecar::spool;

namespace {

struct Init {
  Init() { foundation::initSecretMemoryOrDie(); }
} init;

DataKey testKey(char fill = 'k', std::string_view wrapped = "vault:v1:test") {
  DataKey key;
  key.key = foundation::SecretBytes::copyOf(std::string_view(std::string(kKeyLength, fill)));
  key.id = keyIdOf(wrapped);
  return key;
}

Record sampleMessage() {
  Record r;
  r.kind = Kind::Message;
  r.id = "0123456789abcdef0123456789abcdef";
  r.state = State::Retrying;
  r.accepted_unix_ms = 1764626400000;
  r.deadline_unix_ms = 1764630000000;
  r.attempts = 2;
  r.profile = "billing";
  r.credential_path = "smtp/creds/example-app";
  r.uid = 1000;
  r.pid = 4242;
  r.message_id = "<abc@example.test>";
  r.idempotency_key = "order-77";
  r.request_digest = std::string(64, 'a');
  r.from = "app@example.test";
  r.recipients = {{"a@example.test", RecipientState::Delivered, 250},
                  {"b@example.test", RecipientState::Pending, 450}};
  r.last_outcome = "temporary_failure";
  r.last_code = 450;
  r.last_text = "4.2.0 mailbox busy";
  r.message = "From: app@example.test\r\nSubject: hi\r\n\r\nbody\r\n";
  return r;
}

Record sampleFinished() {
  Record r = sampleMessage();
  r.kind = Kind::Finished;
  r.state = State::Sent;
  r.finished_unix_ms = 1764626500000;
  r.recipients[1].state = RecipientState::Delivered;
  r.recipients[1].last_code = 250;
  r.message.clear();
  return r;
}

}  // namespace

TEST_CASE("a version 1 record (before the request digest) still parses, with no digest") {
  Record r = sampleMessage();
  r.request_digest.clear();
  std::string plain = encodeRecord(r);
  // Version 1's layout is version 2's without the digest's (empty) length field.
  const auto at = plain.find("order-77") + std::string_view("order-77").size();
  REQUIRE(plain.compare(at, 4, std::string(4, '\0')) == 0);
  std::string v1 = plain;
  v1.erase(at, 4);
  auto parsed = parseRecord(v1, {}, 1);
  REQUIRE_MESSAGE(parsed.ok(), parsed.errorMessage());
  CHECK(*parsed == r);
  CHECK(!parseRecord(v1).ok());            // not a version 2 record
  CHECK(!parseRecord(plain, {}, 1).ok());  // nor this one of version 1
  CHECK(!parseRecord(plain, {}, 0).ok());
  CHECK(!parseRecord(plain, {}, 3).ok());
}

TEST_CASE("a record round-trips through encode and parse, and through seal and open") {
  for (const Record& r : {sampleMessage(), sampleFinished()}) {
    const std::string plain = encodeRecord(r);
    auto parsed = parseRecord(plain);
    REQUIRE_MESSAGE(parsed.ok(), parsed.errorMessage());
    CHECK(*parsed == r);
    const DataKey key = testKey();
    auto file = seal(r, key);
    REQUIRE(file.ok());
    CHECK(file->size() == kHeaderLength + plain.size() + kTagLength);
    // The message is not in the file in the clear.
    if (!r.message.empty()) CHECK(file->find("Subject: hi") == std::string::npos);
    CHECK(file->find("b@example.test") == std::string::npos);
    auto opened = open(*file, key);
    REQUIRE_MESSAGE(opened.ok(), opened.errorMessage());
    CHECK(*opened == r);
  }
}

TEST_CASE("two seals of one record differ (a fresh nonce each time)") {
  const DataKey key = testKey();
  auto a = seal(sampleMessage(), key);
  auto b = seal(sampleMessage(), key);
  REQUIRE((a.ok() && b.ok()));
  CHECK(*a != *b);
}

TEST_CASE("every truncation of a record or a file is refused") {
  const std::string plain = encodeRecord(sampleMessage());
  for (std::size_t len = 0; len < plain.size(); ++len) {
    auto r = parseRecord(std::string_view(plain).substr(0, len));
    CHECK_MESSAGE(!r.ok(), "prefix of " << len << " bytes parsed");
  }
  const DataKey key = testKey();
  auto file = seal(sampleMessage(), key);
  REQUIRE(file.ok());
  for (std::size_t len = 0; len < file->size(); ++len) {
    auto r = open(std::string_view(*file).substr(0, len), key);
    REQUIRE(!r.ok());
    CHECK((r.error().kind == foundation::ErrorKind::Permanent));
    CHECK(r.error().message.find("spool file: ") == 0);
  }
}

TEST_CASE("a flipped bit anywhere in a sealed file is refused") {
  const DataKey key = testKey();
  auto file = seal(sampleMessage(), key);
  REQUIRE(file.ok());
  std::size_t refused = 0;
  for (std::size_t i = 0; i < file->size(); ++i) {
    std::string bad = *file;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = open(bad, key);
    if (!r.ok() && r.error().kind == foundation::ErrorKind::Permanent) ++refused;
  }
  CHECK(refused == file->size());
}

TEST_CASE("bad files, table: each with the reason it is refused") {
  const DataKey key = testKey();
  const std::string good = seal(sampleMessage(), key).value();
  struct Row {
    const char* name;
    std::function<std::string()> file;
    const DataKey* key;
    const char* reason;
  };
  const DataKey other_id = testKey('k', "vault:v1:another");
  const DataKey other_key = testKey('x');  // same id, wrong bytes: as if the id collided
  auto with = [&](std::size_t at, std::string_view bytes) {
    return [&good, at, bytes] {
      std::string f = good;
      f.replace(at, bytes.size(), bytes);
      return f;
    };
  };
  auto flipped = [&](std::size_t at, std::size_t count) {
    return [&good, at, count] {
      std::string f = good;
      for (std::size_t i = at; i < at + count; ++i) f[i] = static_cast<char>(f[i] ^ 0xff);
      return f;
    };
  };
  const std::vector<Row> rows = {
      {"empty", [] { return std::string(); }, &key, "truncated"},
      {"header only", [&] { return good.substr(0, kHeaderLength); }, &key, "truncated"},
      {"cut in the ciphertext", [&] { return good.substr(0, good.size() - 1); }, &key, "truncated"},
      {"trailing byte", [&] { return good + "x"; }, &key, "longer than its header says"},
      {"other magic", with(0, "SCSPOOL2"), &key, "magic"},
      {"other version", with(8, "\x03"), &key, "unsupported version"},
      {"kind 0", with(9, std::string_view("\0", 1)), &key, "unknown kind"},
      {"kind Finished (moved between kinds)", with(9, "\x02"), &key, "authentication failed"},
      {"reserved bytes set", with(10, "\x01"), &key, "unknown kind"},
      {"renamed to another id", with(20, "ffffffffffffffffffffffffffffffff"), &key,
       "authentication failed"},
      {"id not hex", with(20, "ZZ"), &key, "bad message id"},
      {"sealed under another key id", [&] { return good; }, &other_id, "another data key"},
      {"the wrong key", [&] { return good; }, &other_key, "authentication failed"},
      {"nonce changed", flipped(52, 2), &key, "authentication failed"},
      {"huge length", with(76, "\xff\xff\xff\xff\xff\xff\xff\x7f"), &key, "length out of range"},
      {"tag changed", flipped(good.size() - 1, 1), &key, "authentication failed"},
      {"key id changed", flipped(12, 1), &key, "another data key"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto r = open(row.file(), *row.key);
    REQUIRE(!r.ok());
    CHECK((r.error().kind == foundation::ErrorKind::Permanent));
    CHECK_MESSAGE(r.error().message.find(row.reason) != std::string::npos, r.error().message);
  }
}

TEST_CASE("bad records, table: authenticated but not well-formed is refused too") {
  struct Row {
    const char* name;
    std::function<void(Record&)> change;
    const char* reason;
  };
  const std::vector<Row> rows = {
      {"no recipients", [](Record& r) { r.recipients.clear(); }, "recipient count"},
      {"empty recipient", [](Record& r) { r.recipients[0].address.clear(); }, "bad recipient"},
      {"CRLF in a recipient", [](Record& r) { r.recipients[0].address = "a@x\r\nRCPT TO:<b@y>"; },
       "bad recipient"},
      {"NUL in the sender", [](Record& r) { r.from = std::string("a\0b@x", 5); },
       "envelope sender"},
      {"newline in the profile", [](Record& r) { r.profile = "a\nb"; }, "origin"},
      {"reply code 600", [](Record& r) { r.last_code = 600; }, "last attempt"},
      {"recipient code 999", [](Record& r) { r.recipients[0].last_code = 999; }, "bad recipient"},
      {"Message kind, final state", [](Record& r) { r.state = State::Sent; }, "kind"},
      {"Message kind, no body", [](Record& r) { r.message.clear(); }, "message body"},
      {"too many recipients",
       [](Record& r) {
         r.recipients.resize(1001, {"x@example.test", RecipientState::Pending, 0});
       },
       "recipient count"},
      {"address too long", [](Record& r) { r.recipients[0].address = std::string(600, 'a'); },
       "bad recipient"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    Record r = sampleMessage();
    row.change(r);
    auto parsed = parseRecord(encodeRecord(r));
    REQUIRE(!parsed.ok());
    CHECK_MESSAGE(parsed.error().message.find(row.reason) != std::string::npos,
                  parsed.error().message);
  }
  // Raw bytes the encoder never makes.
  std::string plain = encodeRecord(sampleMessage());
  CHECK(!parseRecord(plain + "x").ok());
  plain[0] = 3;
  CHECK(!parseRecord(plain).ok());
}

TEST_CASE("limits are the caller's") {
  Limits small;
  small.max_message_bytes = 10;
  auto r = parseRecord(encodeRecord(sampleMessage()), small);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("message length") != std::string::npos);
}

TEST_CASE("ids") {
  CHECK(validId("0123456789abcdef0123456789abcdef"));
  CHECK(!validId("0123456789ABCDEF0123456789abcdef"));
  CHECK(!validId("0123456789abcdef0123456789abcde"));
  CHECK(!validId("../../../../etc/passwd0123456789"));
  CHECK(keyIdOf("vault:v1:a") != keyIdOf("vault:v1:b"));
}

TEST_CASE("a data key of the wrong size is an internal error, not a crash") {
  DataKey key;
  key.key = foundation::SecretBytes::copyOf(std::string_view("short"));
  auto sealed = seal(sampleMessage(), key);
  REQUIRE(!sealed.ok());
  CHECK((sealed.error().kind == foundation::ErrorKind::Internal));
}

// The fuzz corpus, from the same samples (only when asked: SPOOL_WRITE_CORPUS=<dir>).
TEST_CASE("corpus") {
  const char* dir = std::getenv("SPOOL_WRITE_CORPUS");
  if (dir == nullptr) return;
  auto write = [&](const std::string& name, char mode, const std::string& bytes) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << mode << bytes;
  };
  // Mode '\0': a plaintext record; '\1': a sealed file under the fuzzer's key
  // ("vault:v1:fuzz", 32 bytes of 'f').
  const DataKey fuzz_key = testKey('f', "vault:v1:fuzz");
  write("record_message", '\0', encodeRecord(sampleMessage()));
  write("record_finished", '\0', encodeRecord(sampleFinished()));
  std::string cut = encodeRecord(sampleMessage());
  write("record_truncated", '\0', cut.substr(0, cut.size() / 2));
  write("file_message", '\1', seal(sampleMessage(), fuzz_key).value());
  write("file_finished", '\1', seal(sampleFinished(), fuzz_key).value());
  std::string tampered = seal(sampleMessage(), fuzz_key).value();
  tampered[tampered.size() / 2] ^= 0x40;
  write("file_tampered", '\1', tampered);
  write("file_other_key", '\1', seal(sampleMessage(), testKey()).value());
  write("file_truncated", '\1',
        seal(sampleMessage(), fuzz_key).value().substr(0, kHeaderLength + 5));
}
