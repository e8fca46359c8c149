// request_fields.cc: typed, limited access to a request's data JSON (request_fields.h).
//
// SECURITY: untrusted JSON (any client allowed to write the path): 64 KiB limit, the
// top level must be an object, RapidJSON parses with kParseStopWhenDoneFlag off so
// trailing garbage fails. Error messages name fields, never echo values.
// ERRORS: Permanent.
#include "plugin/request_fields.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "plugin/credentials.h"

namespace smtpplugin {

struct RequestFields::Impl {
  rapidjson::Document doc;
  const rapidjson::Value* find(std::string_view key) const {
    if (!doc.IsObject()) return nullptr;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == key) {
        return it->value.IsNull() ? nullptr : &it->value;
      }
    }
    return nullptr;
  }
};

RequestFields::RequestFields(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RequestFields::RequestFields(RequestFields&&) noexcept = default;
RequestFields& RequestFields::operator=(RequestFields&&) noexcept = default;
RequestFields::~RequestFields() = default;

foundation::Result<RequestFields> RequestFields::parse(std::string_view json) {
  auto impl = std::make_unique<Impl>();
  if (json.size() > kMaxRequestDataBytes) {
    return foundation::Error::permanent("request data too large");
  }
  if (json.empty() || json == "null") {
    impl->doc.SetObject();
    return RequestFields(std::move(impl));
  }
  impl->doc.Parse(json.data(), json.size());
  if (impl->doc.HasParseError()) {
    return foundation::Error::permanent(std::string("request data is not valid JSON: ") +
                                        rapidjson::GetParseError_En(impl->doc.GetParseError()));
  }
  if (impl->doc.IsNull()) {
    impl->doc.SetObject();
  } else if (!impl->doc.IsObject()) {
    return foundation::Error::permanent("request data must be a JSON object");
  }
  return RequestFields(std::move(impl));
}

foundation::Result<RequestFields> RequestFields::parseInPlace(foundation::SecretBytes& buffer) {
  auto impl = std::make_unique<Impl>();
  if (buffer.size() > kMaxRequestDataBytes) return foundation::Error::permanent("data too large");
  if (buffer.empty()) {
    impl->doc.SetObject();
    return RequestFields(std::move(impl));
  }
  // SecretBytes keeps a NUL after its bytes, as ParseInsitu needs.
  impl->doc.ParseInsitu(buffer.mutableData());
  if (impl->doc.HasParseError()) {
    return foundation::Error::permanent(std::string("data is not valid JSON: ") +
                                        rapidjson::GetParseError_En(impl->doc.GetParseError()));
  }
  if (impl->doc.IsNull()) {
    impl->doc.SetObject();
  } else if (!impl->doc.IsObject()) {
    return foundation::Error::permanent("data must be a JSON object");
  }
  return RequestFields(std::move(impl));
}

bool RequestFields::has(std::string_view key) const {
  return impl_->find(key) != nullptr;
}

std::vector<std::string> RequestFields::keys() const {
  std::vector<std::string> out;
  // Const iterators: clang's C++20 rewritten-operator rule finds RapidJSON's mutable
  // member-iterator != ambiguous (-Wambiguous-reversed-operator; the fuzz build is clang).
  const rapidjson::Document& doc = impl_->doc;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    out.emplace_back(it->name.GetString(), it->name.GetStringLength());
  }
  return out;
}

foundation::Status RequestFields::onlyKeys(std::initializer_list<std::string_view> allowed) const {
  for (const auto& key : keys()) {
    bool found = false;
    for (auto a : allowed) found = found || a == key;
    if (!found) {
      return foundation::Error::permanent("unknown field '" + key.substr(0, 64) + "'");
    }
  }
  return {};
}

namespace {
foundation::Error wrongType(std::string_view key, const char* want) {
  return foundation::Error::permanent("field '" + std::string(key) + "' must be " + want);
}
}  // namespace

foundation::Result<std::optional<std::string>> RequestFields::getString(
    std::string_view key) const {
  const auto* v = impl_->find(key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->IsString()) return wrongType(key, "a string");
  return std::optional<std::string>(std::string(v->GetString(), v->GetStringLength()));
}

foundation::Result<std::optional<foundation::SecretBytes>> RequestFields::getSecret(
    std::string_view key) const {
  const auto* v = impl_->find(key);
  if (v == nullptr) return std::optional<foundation::SecretBytes>();
  if (!v->IsString()) return wrongType(key, "a string");
  return std::optional<foundation::SecretBytes>(
      foundation::SecretBytes::copyOf(std::string_view(v->GetString(), v->GetStringLength())));
}

foundation::Result<std::optional<std::int64_t>> RequestFields::getInt(std::string_view key) const {
  const auto* v = impl_->find(key);
  if (v == nullptr) return std::optional<std::int64_t>();
  if (v->IsInt64()) return std::optional<std::int64_t>(v->GetInt64());
  if (v->IsDouble()) {
    const double d = v->GetDouble();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) {
      return std::optional<std::int64_t>(static_cast<std::int64_t>(d));
    }
    return wrongType(key, "an integer");
  }
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) {
      return std::optional<std::int64_t>(n);
    }
  }
  return wrongType(key, "an integer");
}

foundation::Result<std::optional<bool>> RequestFields::getBool(std::string_view key) const {
  const auto* v = impl_->find(key);
  if (v == nullptr) return std::optional<bool>();
  if (v->IsBool()) return std::optional<bool>(v->GetBool());
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    if (s == "true" || s == "1") return std::optional<bool>(true);
    if (s == "false" || s == "0") return std::optional<bool>(false);
  }
  return wrongType(key, "a boolean");
}

foundation::Result<std::optional<std::int64_t>> RequestFields::getDurationSeconds(
    std::string_view key) const {
  const auto* v = impl_->find(key);
  if (v == nullptr) return std::optional<std::int64_t>();
  if (v->IsString()) {
    auto d = parseDurationSeconds(std::string_view(v->GetString(), v->GetStringLength()));
    if (!d)
      return foundation::Error::permanent("field '" + std::string(key) + "': " + d.error().message);
    return std::optional<std::int64_t>(d.value());
  }
  auto n = getInt(key);
  if (!n) return wrongType(key, "a duration (seconds or e.g. \"1h\")");
  if (*n.value() < 0 || *n.value() > 100LL * 365 * 86400) {
    return wrongType(key, "a duration between 0 and 100 years");
  }
  return n;
}

foundation::Result<std::optional<std::vector<std::string>>> RequestFields::getStringList(
    std::string_view key) const {
  const auto* v = impl_->find(key);
  using Out = std::optional<std::vector<std::string>>;
  if (v == nullptr) return Out();
  std::vector<std::string> items;
  auto add = [&](std::string_view item) {
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
  };
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    while (true) {
      const auto comma = s.find(',');
      add(s.substr(0, comma));
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
  } else if (v->IsArray()) {
    for (const auto& item : v->GetArray()) {
      if (!item.IsString()) return wrongType(key, "a list of strings");
      add(std::string_view(item.GetString(), item.GetStringLength()));
    }
  } else {
    return wrongType(key, "a list of strings");
  }
  if (items.size() > 256) return wrongType(key, "a list of at most 256 items");
  return Out(std::move(items));
}

}  // namespace smtpplugin
