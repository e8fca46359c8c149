// fakes.h: in-memory stand-ins for the engine's environment (storage, system view,
// mail database, clock, randomness), so engine tests need neither Vault nor PostgreSQL.
//
// SECURITY: test-only; holds fake secrets in ordinary memory.
// ERRORS: each fake can be told to fail (Temporary) to exercise the error paths.
#pragma once

#include <map>
#include <set>
#include <string>

#include "plugin/host.h"
#include "plugin/mail_store.h"

namespace smtpplugin::testing {

class FakeStorage final : public Storage {
 public:
  foundation::Result<std::optional<std::string>> get(std::string_view key) override {
    if (down) return foundation::Error::temporary("storage down");
    auto it = entries.find(std::string(key));
    if (it == entries.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  foundation::Status put(std::string_view key, std::string_view value) override {
    if (down || key == fail_puts_of) return foundation::Error::temporary("storage down");
    entries[std::string(key)] = std::string(value);
    return {};
  }
  foundation::Status remove(std::string_view key) override {
    if (down) return foundation::Error::temporary("storage down");
    entries.erase(std::string(key));
    return {};
  }
  foundation::Result<std::vector<std::string>> list(std::string_view prefix) override {
    if (down) return foundation::Error::temporary("storage down");
    std::vector<std::string> out;
    for (const auto& [k, v] : entries) {
      if (k.starts_with(prefix)) out.push_back(k.substr(prefix.size()));
    }
    return out;
  }
  std::map<std::string, std::string> entries;
  bool down = false;
  std::string fail_puts_of;  // a key whose writes fail (Temporary)
};

class FakeSystemView final : public SystemView {
 public:
  foundation::Result<std::int64_t> defaultLeaseTtlNs() override {
    return default_ttl_s * 1'000'000'000LL;
  }
  foundation::Result<std::int64_t> maxLeaseTtlNs() override { return max_ttl_s * 1'000'000'000LL; }
  std::int64_t default_ttl_s = 3600;
  std::int64_t max_ttl_s = 86400;
};

class FakeClock final : public Clock {
 public:
  std::int64_t nowUnixSeconds() override { return now; }
  std::int64_t now = 1'800'000'000;
};

// Deterministic bytes: a counter, so two fills never repeat.
class CountingRandom final : public RandomSource {
 public:
  void fill(std::span<unsigned char> out) override {
    for (auto& b : out) b = static_cast<unsigned char>(next++ % 251);
  }
  unsigned next = 0;
};

struct FakeLogin {
  bool token_login = false;  // no credentials row: only sender rows
  std::string hash;
  std::int64_t expires_at = 0;
  std::vector<std::string> senders;
};

// The "database": shared by every store the factory opens.
struct FakeDatabase {
  std::map<std::string, FakeLogin> logins;
  std::string password = "db-secret";  // the role's current password
  bool down = false;
  int opens = 0;
  std::set<std::string> taken;  // usernames that report a collision once
};

class FakeMailStore final : public MailStore {
 public:
  FakeMailStore(FakeDatabase& db, DbSettings settings) : db_(db), settings_(std::move(settings)) {}
  foundation::Status check() {
    if (db_.down) return foundation::Error::temporary("database connection failed: down");
    if (!settings_.password.equals(db_.password)) {
      return foundation::Error::temporary(
          "database connection failed: password authentication failed");
    }
    return {};
  }
  foundation::Status verify() override { return check(); }
  foundation::Result<bool> createLogin(const NewLogin& login) override {
    if (auto st = check(); !st) return std::move(st).error();
    if (db_.taken.erase(login.username) > 0 || db_.logins.count(login.username)) return false;
    if (login.token_login != login.password_hash.empty()) {
      return foundation::Error::internal("a token login has no password, a password login has");
    }
    FakeLogin l;
    l.token_login = login.token_login;
    login.password_hash.reveal([&](std::string_view h) { l.hash = std::string(h); });
    l.expires_at = login.expires_at;
    l.senders = login.sender_keys;
    db_.logins[login.username] = l;
    return true;
  }
  foundation::Result<bool> extendLogin(std::string_view username,
                                       std::int64_t expires_at) override {
    if (auto st = check(); !st) return std::move(st).error();
    auto it = db_.logins.find(std::string(username));
    if (it == db_.logins.end()) return false;
    it->second.expires_at = expires_at;
    return true;
  }
  foundation::Result<bool> deleteLogin(std::string_view username) override {
    if (auto st = check(); !st) return std::move(st).error();
    return db_.logins.erase(std::string(username)) > 0;
  }
  foundation::Status changeOwnPassword(const foundation::SecretBytes& new_password) override {
    if (auto st = check(); !st) return st;
    new_password.reveal([&](std::string_view p) { db_.password = std::string(p); });
    settings_.password = new_password.clone();
    return {};
  }

 private:
  FakeDatabase& db_;
  DbSettings settings_;
};

class FakeMailStoreFactory final : public MailStoreFactory {
 public:
  explicit FakeMailStoreFactory(FakeDatabase& db) : db_(db) {}
  std::unique_ptr<MailStore> open(DbSettings settings) override {
    ++db_.opens;
    return std::make_unique<FakeMailStore>(db_, std::move(settings));
  }

 private:
  FakeDatabase& db_;
};

}  // namespace smtpplugin::testing
