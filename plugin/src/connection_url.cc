// connection_url.cc: validation of the config's connection_url (see mail_store.h).
//
// SECURITY: the URL is written by an operator; it must not carry a user, password or
// passfile, so the database password only ever travels in its own write-only field.
// Parsing is libpq's own (PQconninfoParse), so what we check is what libpq will use.
// ERRORS: Permanent, naming the offending keyword (never a value).
#include <libpq-fe.h>

#include <string>

#include "plugin/mail_store.h"

namespace smtpplugin {

std::string oneLine(const char* text) {
  std::string s = text != nullptr ? text : "";
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.size() > 300) s.resize(300);
  return s;
}

namespace {}  // namespace

foundation::Status checkConnectionUrl(std::string_view connection_url) {
  if (connection_url.empty() || connection_url.size() > 4096) {
    return foundation::Error::permanent("connection_url is empty or too long");
  }
  const std::string url(connection_url);
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &err);
  if (options == nullptr) {
    std::string msg = "connection_url does not parse: " + oneLine(err);
    if (err != nullptr) PQfreemem(err);
    return foundation::Error::permanent(std::move(msg));
  }
  foundation::Status st;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view key(o->keyword);
    if (key == "password" || key == "user" || key == "passfile") {
      st = foundation::Error::permanent("connection_url must not contain " + std::string(key) +
                                        " (use the username and password fields)");
    }
  }
  PQconninfoFree(options);
  return st;
}

}  // namespace smtpplugin
