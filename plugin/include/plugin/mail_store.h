// mail_store.h: the mail user database as the engine sees it: create, extend and delete
// one SMTP login (a `credentials` row that Dovecot authenticates against plus the
// `sender_logins` rows Postfix's smtpd_sender_login_maps reads; schema in
// scripts/stack.d/postgres/schema.sql), and change the engine's own DB password.
//
// SECURITY: holds the database password (SecretBytes). Only password *hashes* reach the
// database. All SQL is parameterised; identifiers are constants.
// ERRORS: an unreachable or failing database is Temporary (Vault retries revocations);
// constraint violations that input could cause are Permanent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace smtpplugin {

struct DbSettings {
  std::string connection_url;  // libpq conninfo or URI, without user and password
  std::string username;
  foundation::SecretBytes password;
};

struct NewLogin {
  std::string username;
  // A passwordless (token) login: only its sender_logins rows are written, no
  // credentials row, so no password for it exists; password_hash stays empty.
  bool token_login = false;
  foundation::SecretBytes password_hash;  // "{SSHA512}..." as Dovecot reads it
  std::int64_t expires_at = 0;            // Unix seconds
  std::vector<std::string> sender_keys;   // "user@domain" or "@domain" (Postfix lookup keys)
};

class MailStore {
 public:
  virtual ~MailStore() = default;
  // Connects (if needed) and runs a trivial query.
  virtual foundation::Status verify() = 0;
  // false: the username is taken (nothing written). A token login is taken when the
  // name has a credentials row or any sender_logins row.
  virtual foundation::Result<bool> createLogin(const NewLogin& login) = 0;
  // false: no such login.
  virtual foundation::Result<bool> extendLogin(std::string_view username,
                                               std::int64_t expires_at) = 0;
  // false: there was no such login (already gone).
  virtual foundation::Result<bool> deleteLogin(std::string_view username) = 0;
  // ALTER ROLE CURRENT_USER with a verifier computed client-side (the plaintext never
  // reaches the server); later connections use the new password.
  virtual foundation::Status changeOwnPassword(const foundation::SecretBytes& new_password) = 0;
};

class MailStoreFactory {
 public:
  virtual ~MailStoreFactory() = default;
  virtual std::unique_ptr<MailStore> open(DbSettings settings) = 0;
};

// libpq implementation (pg_mail_store.cc).
std::unique_ptr<MailStoreFactory> makePgMailStoreFactory();

// Validates a conninfo string: it must parse and must not carry user or password.
foundation::Status checkConnectionUrl(std::string_view connection_url);

// libpq's message text as one bounded line (no CR/LF/tab, at most 300 bytes), for errors
// that reach logs and API answers.
std::string oneLine(const char* text);

}  // namespace smtpplugin
