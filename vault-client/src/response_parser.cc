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

}  // namespace

Result<AuthInfo> parseAuth(SecretBytes& body) {
  Document doc;
  auto parsed = parseInPlace(body, doc);
  if (!parsed) return parsed.error();
  const Value* auth = member(doc, "auth");
  if (auth == nullptr || !auth->IsObject()) return malformed("no auth object");
  const Value* token = member(*auth, "client_token");
  if (token == nullptr || !token->IsString() || token->GetStringLength() == 0) {
    return malformed("auth.client_token missing or not a string");
  }
  AuthInfo info;
  info.client_token = secretOf(*token);
  auto accessor = optionalString(*auth, "accessor");
  auto duration = optionalSeconds(*auth, "lease_duration");
  auto renewable = optionalBool(*auth, "renewable");
  auto policies = stringArray(*auth, "policies");
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
    if (!data->IsObject()) return malformed("data is not an object");
    if (data->MemberCount() > kMaxDataFields) return malformed("data has too many fields");
    for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      secret.data.set(std::move(name), it->value.IsString() ? secretOf(it->value)
                                                             : jsonTextOf(it->value));
    }
  }
  return secret;
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
