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
#include <sodium.h>

#include <cstddef>
#include <cstring>

namespace vault::response {
namespace {

// RapidJSON base allocator on sodium_malloc: the DOM (including numbers and the
// pointers into the body) and the parse stack live in locked, zeroed-on-free memory.
class SodiumAllocator {
 public:
  static const bool kNeedFree = true;
  void* Malloc(size_t size) {
    if (size == 0) return nullptr;
    // sodium_malloc places the block right before a guard page, so its address is only
    // aligned if the size is a multiple of the alignment: round up (RapidJSON stores
    // integers and pointers in these blocks).
    size = (size + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
           alignof(std::max_align_t);
    void* p = sodium_malloc(size);
    if (p == nullptr) std::abort();  // as SecretBytes: never fall back to plain memory
    return p;
  }
  void* Realloc(void* original, size_t original_size, size_t new_size) {
    if (new_size == 0) {
      Free(original);
      return nullptr;
    }
    void* p = Malloc(new_size);
    if (original != nullptr) {
      std::memcpy(p, original, original_size < new_size ? original_size : new_size);
      Free(original);
    }
    return p;
  }
  static void Free(void* ptr) {
    if (ptr != nullptr) sodium_free(ptr);
  }
};

using Allocator = rapidjson::MemoryPoolAllocator<SodiumAllocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, SodiumAllocator>;
using Value = rapidjson::GenericValue<rapidjson::UTF8<>, Allocator>;
using Buffer = rapidjson::GenericStringBuffer<rapidjson::UTF8<>, SodiumAllocator>;

constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseStopWhenDoneFlag;

Error malformed(const std::string& what) {
  return Error::permanent("malformed response: " + what);
}

bool depthWithin(const Value& v, unsigned depth) {
  if (depth > kMaxDepth) return false;
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      if (!depthWithin(it->value, depth + 1)) return false;
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) {
      if (!depthWithin(item, depth + 1)) return false;
    }
  }
  return true;
}

// Parses `body` in place into `doc`. The body must stay alive while doc is used.
Result<Document*> parseInPlace(SecretBytes& body, Document& doc) {
  if (body.size() > kMaxBodyBytes) return malformed("larger than 1 MiB");
  if (body.empty()) return malformed("empty body");
  if (body.hasNul()) return malformed("NUL byte in body");
  doc.ParseInsitu<kParseFlags>(body.mutableData());
  if (doc.HasParseError()) {
    return malformed(std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                     ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return malformed("not a JSON object");
  if (!depthWithin(doc, 0)) return malformed("nested too deeply");
  return &doc;
}

const Value* member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

SecretBytes secretOf(const Value& string_value) {
  return SecretBytes::copyOf(
      std::string_view(string_value.GetString(), string_value.GetStringLength()));
}

Result<std::string> optionalString(const Value& object, const char* name) {
  const Value* v = member(object, name);
  if (v == nullptr) return std::string();
  if (!v->IsString()) return malformed(std::string(name) + " is not a string");
  return std::string(v->GetString(), v->GetStringLength());
}

Result<std::chrono::seconds> optionalSeconds(const Value& object, const char* name) {
  const Value* v = member(object, name);
  if (v == nullptr) return std::chrono::seconds(0);
  if (!v->IsInt64() || v->GetInt64() < 0) {
    return malformed(std::string(name) + " is not a non-negative integer");
  }
  return std::chrono::seconds(v->GetInt64());
}

Result<bool> optionalBool(const Value& object, const char* name) {
  const Value* v = member(object, name);
  if (v == nullptr) return false;
  if (!v->IsBool()) return malformed(std::string(name) + " is not a boolean");
  return v->GetBool();
}

Result<std::vector<std::string>> stringArray(const Value& object, const char* name) {
  std::vector<std::string> out;
  const Value* v = member(object, name);
  if (v == nullptr) return out;
  if (!v->IsArray()) return malformed(std::string(name) + " is not an array");
  if (v->Size() > kMaxDataFields) return malformed(std::string(name) + " has too many entries");
  for (const auto& item : v->GetArray()) {
    if (!item.IsString()) return malformed(std::string(name) + " has a non-string entry");
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

// A non-string data value as JSON text, written into locked memory.
SecretBytes jsonTextOf(const Value& v) {
  Buffer buffer;
  rapidjson::Writer<Buffer, rapidjson::UTF8<>, rapidjson::UTF8<>, SodiumAllocator> writer(buffer);
  v.Accept(writer);
  return SecretBytes::copyOf(std::string_view(buffer.GetString(), buffer.GetSize()));
}

Result<AuthInfo> authFrom(const Value& auth) {
  if (!auth.IsObject()) return malformed("auth is not an object");
  const Value* token = member(auth, "client_token");
  if (token == nullptr || !token->IsString() || token->GetStringLength() == 0) {
    return malformed("auth.client_token missing or not a string");
  }
  AuthInfo info;
  info.client_token = secretOf(*token);
  auto accessor = optionalString(auth, "accessor");
  auto duration = optionalSeconds(auth, "lease_duration");
  auto renewable = optionalBool(auth, "renewable");
  auto policies = stringArray(auth, "policies");
  if (!accessor) return accessor.error();
  if (!duration) return duration.error();
  if (!renewable) return renewable.error();
  if (!policies) return policies.error();
  info.accessor = std::move(*accessor);
  info.lease_duration = *duration;
  info.renewable = *renewable;
  info.policies = std::move(*policies);
  return info;
}

Result<WrapInfo> wrapInfoFrom(const Value& wrap) {
  if (!wrap.IsObject()) return malformed("wrap_info is not an object");
  const Value* token = member(wrap, "token");
  if (token == nullptr || !token->IsString() || token->GetStringLength() == 0) {
    return malformed("wrap_info.token missing or not a string");
  }
  WrapInfo info;
  info.token = secretOf(*token);
  auto accessor = optionalString(wrap, "accessor");
  auto ttl = optionalSeconds(wrap, "ttl");
  auto created = optionalString(wrap, "creation_time");
  auto path = optionalString(wrap, "creation_path");
  if (!accessor) return accessor.error();
  if (!ttl) return ttl.error();
  if (!created) return created.error();
  if (!path) return path.error();
  info.accessor = std::move(*accessor);
  info.ttl = *ttl;
  info.creation_time = std::move(*created);
  info.creation_path = std::move(*path);
  return info;
}

// Fills `out` from a JSON object of fields (a secret's `data`).
Status dataFrom(const Value& data, SecretData& out) {
  if (!data.IsObject()) return malformed("data is not an object");
  if (data.MemberCount() > kMaxDataFields) return malformed("data has too many fields");
  for (auto it = data.MemberBegin(); it != data.MemberEnd(); ++it) {
    std::string name(it->name.GetString(), it->name.GetStringLength());
    out.set(std::move(name), it->value.IsString() ? secretOf(it->value) : jsonTextOf(it->value));
  }
  return {};
}

// The `data` object of an answer that must have one.
Result<const Value*> requiredData(const Document& doc) {
  const Value* data = member(doc, "data");
  if (data == nullptr || !data->IsObject()) return malformed("no data object");
  return data;
}

}  // namespace

Result<AuthInfo> parseAuth(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  const Value* auth = member(doc, "auth");
  if (auth == nullptr) return malformed("no auth object");
  return authFrom(*auth);
}

Result<LeasedSecret> parseSecret(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  LeasedSecret secret;
  auto request_id = optionalString(doc, "request_id");
  auto lease_id = optionalString(doc, "lease_id");
  auto duration = optionalSeconds(doc, "lease_duration");
  auto renewable = optionalBool(doc, "renewable");
  auto warnings = stringArray(doc, "warnings");
  if (!request_id) return request_id.error();
  if (!lease_id) return lease_id.error();
  if (!duration) return duration.error();
  if (!renewable) return renewable.error();
  if (!warnings) return warnings.error();
  secret.request_id = std::move(*request_id);
  secret.lease_id = std::move(*lease_id);
  secret.lease_duration = *duration;
  secret.renewable = *renewable;
  secret.warnings = std::move(*warnings);

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

Result<TokenInfo> parseTokenLookup(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  const Value& d = **data;
  TokenInfo info;
  auto accessor = optionalString(d, "accessor");
  auto ttl = optionalSeconds(d, "ttl");
  auto creation_ttl = optionalSeconds(d, "creation_ttl");
  auto max_ttl = optionalSeconds(d, "explicit_max_ttl");
  auto renewable = optionalBool(d, "renewable");
  auto expire = optionalString(d, "expire_time");
  auto policies = stringArray(d, "policies");
  if (!accessor) return accessor.error();
  if (!ttl) return ttl.error();
  if (!creation_ttl) return creation_ttl.error();
  if (!max_ttl) return max_ttl.error();
  if (!renewable) return renewable.error();
  if (!expire) return expire.error();
  if (!policies) return policies.error();
  info.accessor = std::move(*accessor);
  info.ttl = *ttl;
  info.creation_ttl = *creation_ttl;
  info.explicit_max_ttl = *max_ttl;
  info.renewable = *renewable;
  info.expire_time = std::move(*expire);
  info.policies = std::move(*policies);
  return info;
}

Result<LeaseInfo> parseLeaseRenewal(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto id = optionalString(doc, "lease_id");
  auto ttl = optionalSeconds(doc, "lease_duration");
  auto renewable = optionalBool(doc, "renewable");
  if (!id) return id.error();
  if (!ttl) return ttl.error();
  if (!renewable) return renewable.error();
  if (id->empty()) return malformed("lease_id missing");
  return LeaseInfo{std::move(*id), *ttl, *renewable, {}, {}};
}

Result<LeaseInfo> parseLeaseLookup(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  const Value& d = **data;
  auto id = optionalString(d, "id");
  auto ttl = optionalSeconds(d, "ttl");
  auto renewable = optionalBool(d, "renewable");
  auto issued = optionalString(d, "issue_time");
  auto expires = optionalString(d, "expire_time");
  if (!id) return id.error();
  if (!ttl) return ttl.error();
  if (!renewable) return renewable.error();
  if (!issued) return issued.error();
  if (!expires) return expires.error();
  return LeaseInfo{std::move(*id), *ttl, *renewable, std::move(*issued), std::move(*expires)};
}

Result<std::vector<std::string>> parseList(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto data = requiredData(doc);
  if (!data) return data.error();
  return stringArray(**data, "keys");
}

Result<KvSecret> parseKv2(SecretBytes& body) {
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
    const Value* version = member(*meta, "version");
    if (version == nullptr || !version->IsInt64()) return malformed("metadata.version missing");
    secret.version = version->GetInt64();
    auto created = optionalString(*meta, "created_time");
    auto deleted = optionalString(*meta, "deletion_time");
    auto destroyed = optionalBool(*meta, "destroyed");
    if (!created) return created.error();
    if (!deleted) return deleted.error();
    if (!destroyed) return destroyed.error();
    secret.created_time = std::move(*created);
    secret.deleted = !deleted->empty() || *destroyed;
  }
  return secret;
}

Result<HealthStatus> parseHealth(long http_status, SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  HealthStatus h;
  h.http_status = http_status;
  auto initialized = optionalBool(doc, "initialized");
  auto sealed = optionalBool(doc, "sealed");
  auto standby = optionalBool(doc, "standby");
  auto perf = optionalBool(doc, "performance_standby");
  auto version = optionalString(doc, "version");
  auto cluster = optionalString(doc, "cluster_name");
  if (!initialized) return initialized.error();
  if (!sealed) return sealed.error();
  if (!standby) return standby.error();
  if (!perf) return perf.error();
  if (!version) return version.error();
  if (!cluster) return cluster.error();
  h.initialized = *initialized;
  h.sealed = *sealed;
  h.standby = *standby;
  h.performance_standby = *perf;
  h.version = std::move(*version);
  h.cluster_name = std::move(*cluster);
  return h;
}

Result<LeaderStatus> parseLeader(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  auto ha = optionalBool(doc, "ha_enabled");
  auto self = optionalBool(doc, "is_self");
  auto address = optionalString(doc, "leader_address");
  auto cluster = optionalString(doc, "leader_cluster_address");
  if (!ha) return ha.error();
  if (!self) return self.error();
  if (!address) return address.error();
  if (!cluster) return cluster.error();
  return LeaderStatus{*ha, *self, std::move(*address), std::move(*cluster)};
}

Error parseError(long http_status, SecretBytes& body) {
  std::string text;
  if (!body.empty() && body.size() <= kMaxBodyBytes && !body.hasNul()) {
    Document doc;
    doc.ParseInsitu<kParseFlags>(body.mutableData());
    if (!doc.HasParseError() && doc.IsObject()) {
      if (const Value* errors = member(doc, "errors"); errors != nullptr && errors->IsArray()) {
        for (const auto& e : errors->GetArray()) {
          if (!e.IsString() || text.size() >= kMaxErrorText) continue;
          if (!text.empty()) text += "; ";
          text.append(e.GetString(), std::min<std::size_t>(e.GetStringLength(),
                                                           kMaxErrorText - text.size()));
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
  return temporary ? Error::temporary(message) : Error::permanent(message);
}

}  // namespace vault::response
