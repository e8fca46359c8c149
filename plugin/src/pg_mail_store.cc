// pg_mail_store.cc: MailStore on libpq: one connection, parameterised statements, short
// transactions (see mail_store.h; schema in scripts/stack.d/postgres/schema.sql).
//
// SECURITY: the database password is passed to libpq from SecretBytes and is never put
// into a conninfo string; connection_url is refused if it carries user or password.
// Usernames, hashes and sender keys are bound parameters, never spliced into SQL. The
// one statement that cannot take parameters (ALTER ROLE ... PASSWORD) gets a SCRAM
// verifier computed client-side by PQencryptPasswordConn, quoted by PQescapeLiteral.
// Error messages are libpq's (they name hosts and roles, never passwords), one line, cut.
// ERRORS: connection problems and SQLSTATE classes 08/40/53/57 are Temporary (Vault
// retries revocations); other SQL errors are Permanent (misconfiguration, e.g. missing
// grants). A lost connection is re-established once per operation.
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include <cstring>
#include <memory>
#include <vector>

#include "plugin/mail_store.h"

namespace smtpplugin {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

bool temporarySqlState(const char* state) {
  if (state == nullptr || std::strlen(state) < 2) return true;
  const std::string_view cls(state, 2);
  return cls == "08" || cls == "40" || cls == "53" || cls == "57";
}

class PgMailStore final : public MailStore {
 public:
  explicit PgMailStore(DbSettings settings) : settings_(std::move(settings)) {}
  ~PgMailStore() override { close(); }

  foundation::Status verify() override {
    return withConnection([&]() -> foundation::Status {
      auto r = exec("SELECT count(*) FROM credentials WHERE false", {});
      if (!r) return std::move(r).error();
      return {};
    });
  }

  foundation::Result<bool> createLogin(const NewLogin& login) override {
    bool created = false;
    auto st = withConnection([&]() -> foundation::Status {
      created = false;
      if (auto r = exec("BEGIN", {}); !r) return std::move(r).error();
      const std::string expires = std::to_string(login.expires_at);
      if (login.token_login) {
        if (!login.password_hash.empty()) {
          return rollback(foundation::Error::internal("a token login has no password"));
        }
        // The name must be unused in both tables; the lock keeps two creators of the
        // same name from both seeing it free (random names make that rare anyway).
        if (auto r = exec("SELECT pg_advisory_xact_lock(hashtext($1))", {login.username.c_str()});
            !r) {
          return rollback(std::move(r).error());
        }
        auto used = exec(
            "SELECT 1 FROM credentials WHERE username = $1 "
            "UNION ALL SELECT 1 FROM sender_logins WHERE login = $1 LIMIT 1",
            {login.username.c_str()});
        if (!used) return rollback(std::move(used).error());
        if (PQntuples(used.value().get()) != 0) return rollback(foundation::Status());
      } else {
        if (login.password_hash.empty() || login.password_hash.hasNul()) {
          return rollback(foundation::Error::internal("unusable password hash"));
        }
        auto ins = exec(
            "INSERT INTO credentials (username, password, expires_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (username) DO NOTHING",
            {login.username.c_str(), login.password_hash.cString().pointer, expires.c_str()});
        if (!ins) return rollback(std::move(ins).error());
        if (std::strcmp(PQcmdTuples(ins.value().get()), "1") != 0) {
          return rollback(foundation::Status());  // username taken: nothing written
        }
      }
      for (const auto& key : login.sender_keys) {
        auto r = exec(
            "INSERT INTO sender_logins (address, login) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            {key.c_str(), login.username.c_str()});
        if (!r) return rollback(std::move(r).error());
      }
      if (auto r = exec("COMMIT", {}); !r) return std::move(r).error();
      created = true;
      return {};
    });
    if (!st) return std::move(st).error();
    return created;
  }

  foundation::Result<bool> extendLogin(std::string_view username,
                                       std::int64_t expires_at) override {
    bool found = false;
    const std::string user(username);
    const std::string expires = std::to_string(expires_at);
    auto st = withConnection([&]() -> foundation::Status {
      auto r = exec("UPDATE credentials SET expires_at = $2 WHERE username = $1",
                    {user.c_str(), expires.c_str()});
      if (!r) return std::move(r).error();
      found = std::strcmp(PQcmdTuples(r.value().get()), "0") != 0;
      return {};
    });
    if (!st) return std::move(st).error();
    return found;
  }

  foundation::Result<bool> deleteLogin(std::string_view username) override {
    bool found = false;
    const std::string user(username);
    auto st = withConnection([&]() -> foundation::Status {
      if (auto r = exec("BEGIN", {}); !r) return std::move(r).error();
      auto senders = exec("DELETE FROM sender_logins WHERE login = $1", {user.c_str()});
      if (!senders) return rollback(std::move(senders).error());
      auto creds = exec("DELETE FROM credentials WHERE username = $1", {user.c_str()});
      if (!creds) return rollback(std::move(creds).error());
      found = std::strcmp(PQcmdTuples(creds.value().get()), "0") != 0;
      if (auto r = exec("COMMIT", {}); !r) return std::move(r).error();
      return {};
    });
    if (!st) return std::move(st).error();
    return found;
  }

  foundation::Status changeOwnPassword(const foundation::SecretBytes& new_password) override {
    if (new_password.empty() || new_password.hasNul()) {
      return foundation::Error::internal("rotate-root: unusable new password");
    }
    auto st = withConnection([&]() -> foundation::Status {
      char* verifier = PQencryptPasswordConn(conn_, new_password.cString().pointer,
                                             settings_.username.c_str(), nullptr);
      if (verifier == nullptr) {
        return foundation::Error::temporary("PQencryptPasswordConn: " +
                                            oneLine(PQerrorMessage(conn_)));
      }
      char* literal = PQescapeLiteral(conn_, verifier, std::strlen(verifier));
      OPENSSL_cleanse(verifier, std::strlen(verifier));
      PQfreemem(verifier);
      if (literal == nullptr) {
        return foundation::Error::internal("PQescapeLiteral: " + oneLine(PQerrorMessage(conn_)));
      }
      std::string sql = std::string("ALTER ROLE CURRENT_USER PASSWORD ") + literal;
      OPENSSL_cleanse(literal, std::strlen(literal));
      PQfreemem(literal);
      auto r = exec(sql.c_str(), {});
      OPENSSL_cleanse(sql.data(), sql.size());
      if (!r) return std::move(r).error();
      return {};
    });
    if (!st) return st;
    settings_.password = new_password.clone();
    return {};
  }

 private:
  void close() noexcept {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  foundation::Status connect() {
    close();
    if (settings_.password.hasNul()) return foundation::Error::permanent("password contains NUL");
    const char* keywords[] = {
        "connect_timeout", "application_name", "dbname", "user", "password", nullptr};
    const char* values[] = {"5",
                            "vault-plugin-secrets-smtp",
                            settings_.connection_url.c_str(),
                            settings_.username.c_str(),
                            settings_.password.cString().pointer,
                            nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ == nullptr) return foundation::Error::temporary("database: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      auto err = foundation::Error::temporary("database connection failed: " +
                                              oneLine(PQerrorMessage(conn_)));
      close();
      return err;
    }
    return {};
  }

  // Runs fn on a live connection; if it fails because the connection broke, reconnects
  // and runs it once more (each fn is one transaction, rolled back by the break).
  template <typename Fn>
  foundation::Status withConnection(Fn&& fn) {
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      if (auto st = connect(); !st) return st;
    }
    auto st = fn();
    if (st || PQstatus(conn_) == CONNECTION_OK) return st;
    if (auto again = connect(); !again) return again;
    return fn();
  }

  foundation::Status rollback(foundation::Status why) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
      PgResult r(PQexec(conn_, "ROLLBACK"));
      if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        // The connection is in an unknown state: drop it; the server rolls back.
        close();
      }
    }
    return why;
  }

  foundation::Result<PgResult> exec(const char* sql, std::initializer_list<const char*> params) {
    const std::vector<const char*> values(params);
    PgResult r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr,
                            values.empty() ? nullptr : values.data(), nullptr, nullptr, 0));
    if (!r) {
      return foundation::Error::temporary("database: " + oneLine(PQerrorMessage(conn_)));
    }
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    std::string msg = "database: " + oneLine(PQresultErrorMessage(r.get()));
    if (PQstatus(conn_) != CONNECTION_OK || temporarySqlState(state)) {
      return foundation::Error::temporary(std::move(msg));
    }
    return foundation::Error::permanent(std::move(msg));
  }

  DbSettings settings_;
  PGconn* conn_ = nullptr;
};

class PgMailStoreFactory final : public MailStoreFactory {
 public:
  std::unique_ptr<MailStore> open(DbSettings settings) override {
    return std::make_unique<PgMailStore>(std::move(settings));
  }
};

}  // namespace

std::unique_ptr<MailStoreFactory> makePgMailStoreFactory() {
  return std::make_unique<PgMailStoreFactory>();
}

}  // namespace smtpplugin
