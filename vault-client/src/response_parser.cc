// response_parser.cc: Vault JSON -> typed results (see response_parser.h).
//
// SECURITY: untrusted input, parsed in place in locked memory with RapidJSON's
// iterative parser (no recursion, so no stack exhaustion on deep nesting) and a
// separate depth check on the DOM. The DOM allocator is libsodium's guarded heap.
// ERRORS: Permanent errors naming the field that was wrong, never its value.
#include "vault/response_parser.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstring>

#include "foundation/locked_json.h"

namespace vault::response {
namespace {

// The DOM (including numbers and the pointers into the body), the parse stack and the
// output buffers live in locked, zeroed-on-free memory (foundation/locked_json.h).
using foundation::locked_json::Buffer;
using foundation::locked_json::Document;
using foundation::locked_json::SodiumAllocator;
using foundation::locked_json::Value;

constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseStopWhenDoneFlag;

foundation::Error malformed(const std::string& what) {
  return foundation::Error::permanent("malformed response: " + what);
}

// Parses `body` in place into `doc`. The body must stay alive while doc is used.
foundation::Result<Document*> parseInPlace(foundation::SecretBytes& body, Document& doc) {
  if (body.size() > kMaxBodyBytes) return malformed("larger than 1 MiB");
  if (body.empty()) return malformed("empty body");
  if (body.hasNul()) return malformed("NUL byte in body");
  doc.ParseInsitu<kParseFlags>(body.mutableData());
  if (doc.HasParseError()) {
    return malformed(std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                     ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return malformed("not a JSON object");
  if (!foundation::locked_json::withinDepth(doc, kMaxDepth)) return malformed("nested too deeply");
  return &doc;
}

const Value* member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

foundation::SecretBytes secretOf(const Value& string_value) {
  return foundation::SecretBytes::copyOf(
      std::string_view(string_value.GetString(), string_value.GetStringLength()));
}

// Reads optional fields of one JSON object; a field that is absent or null gets its
// default, one of the wrong type records an error (the first one is kept) so a parser
// reads every field and checks once.
class Fields {
 public:
  explicit Fields(const Value& object) : object_(object) {}

  std::string text(const char* name) {
    const Value* v = get(name, &Value::IsString, "a string");
    return v ? std::string(v->GetString(), v->GetStringLength()) : std::string();
  }
  std::chrono::seconds seconds(const char* name) {
    const Value* v = member(object_, name);
    if (v == nullptr) return std::chrono::seconds(0);
    if (!v->IsInt64() || v->GetInt64() < 0) {
      fail(std::string(name) + " is not a non-negative integer");
      return std::chrono::seconds(0);
    }
    return std::chrono::seconds(v->GetInt64());
  }
  std::int64_t integer(const char* name) {
    const Value* v = get(name, &Value::IsInt64, "an integer");
    return v ? v->GetInt64() : 0;
  }
  bool flag(const char* name) {
    const Value* v = get(name, &Value::IsBool, "a boolean");
    return v ? v->GetBool() : false;
  }
  std::vector<std::string> texts(const char* name) {
    std::vector<std::string> out;
    const Value* v = get(name, &Value::IsArray, "an array");
    if (v == nullptr) return out;
    if (v->Size() > kMaxDataFields) {
      fail(std::string(name) + " has too many entries");
      return out;
    }
    for (const auto& item : v->GetArray()) {
      if (!item.IsString()) {
        fail(std::string(name) + " has a non-string entry");
        return {};
      }
      out.emplace_back(item.GetString(), item.GetStringLength());
    }
    return out;
  }
  // A non-empty string that is a secret (a token).
  foundation::SecretBytes requiredSecret(const char* name, const char* label) {
    const Value* v = member(object_, name);
    if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
      fail(std::string(label) + " missing or not a string");
      return foundation::SecretBytes();
    }
    return secretOf(*v);
  }

  bool ok() const { return error_.empty(); }
  foundation::Error error() const { return malformed(error_); }

 private:
  const Value* get(const char* name, bool (Value::*is)() const, const char* what) {
    const Value* v = member(object_, name);
    if (v == nullptr) return nullptr;
    if (!(v->*is)()) {
      fail(std::string(name) + " is not " + what);
      return nullptr;
    }
    return v;
  }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  const Value& object_;
  std::string error_;
};

// A non-string data value as JSON text, written into locked memory.
foundation::SecretBytes jsonTextOf(const Value& v) {
  Buffer buffer;
  rapidjson::Writer<Buffer, rapidjson::UTF8<>, rapidjson::UTF8<>, SodiumAllocator> writer(buffer);
  v.Accept(writer);
  return foundation::SecretBytes::copyOf(std::string_view(buffer.GetString(), buffer.GetSize()));
}

foundation::Result<AuthInfo> authFrom(const Value& auth) {
  if (!auth.IsObject()) return malformed("auth is not an object");
  Fields f(auth);
  AuthInfo info{f.requiredSecret("client_token", "auth.client_token"), f.text("accessor"),
                f.seconds("lease_duration"), f.flag("renewable"), f.texts("policies")};
  if (!f.ok()) return f.error();
  return info;
}

foundation::Result<WrapInfo> wrapInfoFrom(const Value& wrap) {
  if (!wrap.IsObject()) return malformed("wrap_info is not an object");
  Fields f(wrap);
  WrapInfo info{f.requiredSecret("token", "wrap_info.token"), f.text("accessor"), f.seconds("ttl"),
                f.text("creation_time"), f.text("creation_path")};
  if (!f.ok()) return f.error();
  return info;
}

// Fills `out` from a JSON object of fields (a secret's `data`).
foundation::Status dataFrom(const Value& data, SecretData& out) {
  if (!data.IsObject()) return malformed("data is not an object");
  if (data.MemberCount() > kMaxDataFields) return malformed("data has too many fields");
  for (auto it = data.MemberBegin(); it != data.MemberEnd(); ++it) {
    std::string name(it->name.GetString(), it->name.GetStringLength());
    out.set(std::move(name), it->value.IsString() ? secretOf(it->value) : jsonTextOf(it->value));
  }
  return {};
}

// The `data` object of an answer that must have one.
foundation::Result<const Value*> requiredData(const Document& doc) {
  const Value* data = member(doc, "data");
  if (data == nullptr || !data->IsObject()) return malformed("no data object");
  return data;
}

}  // namespace

foundation::Result<AuthInfo> parseAuth(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  const Value* auth = member(doc, "auth");
  if (auth == nullptr) return malformed("no auth object");
  return authFrom(*auth);
}

foundation::Result<LeasedSecret> parseSecret(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  LeasedSecret secret;
  Fields f(doc);
  secret.request_id = f.text("request_id");
  secret.lease_id = f.text("lease_id");
  secret.lease_duration = f.seconds("lease_duration");
  secret.renewable = f.flag("renewable");
  secret.warnings = f.texts("warnings");
  if (!f.ok()) return f.error();

  if (const Value* data = member(doc, "data")) {
    if (auto s = dataFrom(*data, secret.data); !s) return s.error();
  }
  if (const Value* wrap = member(doc, "wrap_info")) {
    auto info = wrapInfoFrom(*wrap);
    if (!info) return info.error();
    secret.wrap_info = std::move(*info);
  }
  if (const Value* auth = member(doc, "auth")) {
    auto info = authFrom(*auth);
    if (!info) return info.error();
    secret.auth = std::move(*info);
  }
  return secret;
}

foundation::Result<TokenInfo> parseTokenLookup(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  Fields f(**data);  // its `id` is the token itself: not read
  TokenInfo info{f.text("accessor"),        f.seconds("ttl"),
                 f.seconds("creation_ttl"), f.seconds("explicit_max_ttl"),
                 f.flag("renewable"),       f.text("expire_time"),
                 f.texts("policies")};
  if (!f.ok()) return f.error();
  return info;
}

foundation::Result<LeaseInfo> parseLeaseRenewal(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  Fields f(doc);
  LeaseInfo info{f.text("lease_id"), f.seconds("lease_duration"), f.flag("renewable"), {}, {}};
  if (!f.ok()) return f.error();
  if (info.lease_id.empty()) return malformed("lease_id missing");
  return info;
}

foundation::Result<LeaseInfo> parseLeaseLookup(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  Fields f(**data);
  LeaseInfo info{f.text("id"), f.seconds("ttl"), f.flag("renewable"), f.text("issue_time"),
                 f.text("expire_time")};
  if (!f.ok()) return f.error();
  return info;
}

foundation::Result<std::vector<std::string>> parseList(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  Fields f(**data);
  auto keys = f.texts("keys");
  if (!f.ok()) return f.error();
  return keys;
}

foundation::Result<KvSecret> parseKv2(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto outer = requiredData(doc);
  if (!outer) return outer.error();
  KvSecret secret;
  if (const Value* data = member(**outer, "data")) {
    if (auto s = dataFrom(*data, secret.data); !s) return s.error();
  }
  if (const Value* meta = member(**outer, "metadata")) {
    if (!meta->IsObject()) return malformed("metadata is not an object");
    Fields f(*meta);
    secret.version = f.integer("version");
    secret.created_time = f.text("created_time");
    secret.deleted = !f.text("deletion_time").empty() || f.flag("destroyed");
    if (!f.ok()) return f.error();
    if (secret.version <= 0) return malformed("metadata.version missing");
  }
  return secret;
}

foundation::Result<HealthStatus> parseHealth(long http_status, foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  Fields f(doc);
  HealthStatus h{http_status,           f.flag("initialized"),         f.flag("sealed"),
                 f.flag("standby"),     f.flag("performance_standby"), f.text("version"),
                 f.text("cluster_name")};
  if (!f.ok()) return f.error();
  return h;
}

foundation::Result<LeaderStatus> parseLeader(foundation::SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  Fields f(doc);
  LeaderStatus l{f.flag("ha_enabled"), f.flag("is_self"), f.text("leader_address"),
                 f.text("leader_cluster_address")};
  if (!f.ok()) return f.error();
  return l;
}

foundation::Error parseError(long http_status, foundation::SecretBytes& body) {
  std::string text;
  if (!body.empty() && body.size() <= kMaxBodyBytes && !body.hasNul()) {
    Document doc;
    doc.ParseInsitu<kParseFlags>(body.mutableData());
    if (!doc.HasParseError() && doc.IsObject()) {
      if (const Value* errors = member(doc, "errors"); errors != nullptr && errors->IsArray()) {
        for (const auto& e : errors->GetArray()) {
          if (!e.IsString() || text.size() >= kMaxErrorText) continue;
          if (!text.empty()) text += "; ";
          text.append(e.GetString(),
                      std::min<std::size_t>(e.GetStringLength(), kMaxErrorText - text.size()));
        }
      }
    }
  }
  // One line, single spaces: Vault's multi-error texts have tabs and newlines, and a
  // hostile server must not be able to forge log lines.
  std::string clean;
  for (const char c : text) {
    const bool space = static_cast<unsigned char>(c) <= 0x20;
    if (space && (clean.empty() || clean.back() == ' ')) continue;
    clean.push_back(space ? ' ' : c);
  }
  while (!clean.empty() && clean.back() == ' ') clean.pop_back();
  text = std::move(clean);
  std::string message = "HTTP " + std::to_string(http_status);
  if (!text.empty()) message += ": " + text;
  const bool temporary = http_status == 429 || http_status >= 500 || http_status == 412;
  return temporary ? foundation::Error::temporary(message) : foundation::Error::permanent(message);
}

}  // namespace vault::response
