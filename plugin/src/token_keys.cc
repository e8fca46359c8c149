// token_keys.cc: the signing key ring (token_keys.h).
//
// SECURITY: the stored JSON is parsed in situ inside SecretBytes and each private key is
// copied from there into its own SecretBytes; the serialised form is built by RapidJSON
// in an ordinary buffer that is cleansed before it is freed, then held in SecretBytes.
// ERRORS: Internal for a stored ring that is not what serialize() writes.
#include "plugin/token_keys.h"

#include <openssl/crypto.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

namespace smtpplugin {
namespace {

bool kidOk(std::string_view kid) {
  return !kid.empty() && kid.size() <= 64 && std::all_of(kid.begin(), kid.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool stateOf(std::string_view text, KeyState& out) {
  if (text == "next")
    out = KeyState::Next;
  else if (text == "current")
    out = KeyState::Current;
  else if (text == "retired")
    out = KeyState::Retired;
  else
    return false;
  return true;
}

RingKey makeKey(std::string kid, KeyState state, GeneratedKey key, std::int64_t now) {
  RingKey k;
  k.kid = std::move(kid);
  k.state = state;
  k.private_pem = std::move(key.private_pem);
  k.public_jwk = std::move(key.public_jwk);
  k.created_at = now;
  return k;
}

}  // namespace

std::string_view toString(KeyState s) {
  switch (s) {
    case KeyState::Next:
      return "next";
    case KeyState::Current:
      return "current";
    case KeyState::Retired:
      return "retired";
  }
  return "?";
}

foundation::Result<KeyRing> KeyRing::parse(foundation::SecretBytes stored) {
  if (stored.empty()) return foundation::Error::internal("stored key ring is empty");
  rapidjson::Document doc;
  doc.ParseInsitu(stored.mutableData());  // SecretBytes keeps a NUL after its bytes
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    return foundation::Error::internal("stored key ring is not valid JSON");
  }
  KeyRing ring;
  for (const auto& v : doc["keys"].GetArray()) {
    auto str = [&](const char* name, std::string_view& out) {
      if (!v.IsObject() || !v.HasMember(name) || !v[name].IsString()) return false;
      out = std::string_view(v[name].GetString(), v[name].GetStringLength());
      return true;
    };
    auto num = [&](const char* name, std::int64_t& out) {
      if (!v.IsObject() || !v.HasMember(name) || !v[name].IsInt64()) return false;
      out = v[name].GetInt64();
      return true;
    };
    std::string_view kid, state, pem, n, e;
    RingKey k;
    if (!str("kid", kid) || !str("state", state) || !str("private_pem", pem) || !str("n", n) ||
        !str("e", e) || !num("created_at", k.created_at) || !num("signed_until", k.signed_until) ||
        !num("retired_at", k.retired_at) || !kidOk(kid) || !stateOf(state, k.state)) {
      return foundation::Error::internal("stored key ring has a malformed key");
    }
    k.kid = std::string(kid);
    k.private_pem = foundation::SecretBytes::copyOf(pem);
    k.public_jwk = PublicJwk{std::string(n), std::string(e)};
    ring.keys_.push_back(std::move(k));
  }
  if (auto st = ring.checkInvariants(); !st) return std::move(st).error();
  return ring;
}

foundation::SecretBytes KeyRing::serialize() const {
  rapidjson::StringBuffer buffer;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    auto str = [&](const char* key, std::string_view value) {
      w.Key(key);
      w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    };
    w.StartObject();
    w.Key("keys");
    w.StartArray();
    for (const auto& k : keys_) {
      w.StartObject();
      str("kid", k.kid);
      str("state", toString(k.state));
      k.private_pem.reveal([&](std::string_view pem) { str("private_pem", pem); });
      str("n", k.public_jwk.n);
      str("e", k.public_jwk.e);
      w.Key("created_at");
      w.Int64(k.created_at);
      w.Key("signed_until");
      w.Int64(k.signed_until);
      w.Key("retired_at");
      w.Int64(k.retired_at);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  auto out =
      foundation::SecretBytes::copyOf(std::string_view(buffer.GetString(), buffer.GetSize()));
  if (buffer.GetSize() > 0)
    OPENSSL_cleanse(const_cast<char*>(buffer.GetString()), buffer.GetSize());
  return out;
}

const RingKey* KeyRing::current() const noexcept {
  for (const auto& k : keys_)
    if (k.state == KeyState::Current) return &k;
  return nullptr;
}

const RingKey* KeyRing::next() const noexcept {
  for (const auto& k : keys_)
    if (k.state == KeyState::Next) return &k;
  return nullptr;
}

foundation::Status KeyRing::checkInvariants() const {
  std::size_t current = 0, next = 0;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    current += keys_[i].state == KeyState::Current ? 1u : 0u;
    next += keys_[i].state == KeyState::Next ? 1u : 0u;
    for (std::size_t j = i + 1; j < keys_.size(); ++j) {
      if (keys_[i].kid == keys_[j].kid)
        return foundation::Error::internal("key ring: duplicate kid");
    }
  }
  if (keys_.empty()) return {};
  if (current != 1 || next != 1) {
    return foundation::Error::internal("key ring must hold one current and one next key");
  }
  if (keys_.size() > kMaxKeys) return foundation::Error::internal("key ring holds too many keys");
  return {};
}

foundation::Status KeyRing::start(std::int64_t now, std::string first_kid, GeneratedKey first,
                                  std::string second_kid, GeneratedKey second) {
  if (!keys_.empty()) return foundation::Error::internal("key ring already started");
  if (!kidOk(first_kid) || !kidOk(second_kid) || first_kid == second_kid) {
    return foundation::Error::internal("key ring: unusable key ids");
  }
  keys_.push_back(makeKey(std::move(first_kid), KeyState::Current, std::move(first), now));
  keys_.push_back(makeKey(std::move(second_kid), KeyState::Next, std::move(second), now));
  return checkInvariants();
}

foundation::Status KeyRing::rotate(std::int64_t now, std::string fresh_kid, GeneratedKey fresh) {
  if (keys_.empty()) return foundation::Error::internal("key ring not started");
  if (!kidOk(fresh_kid) || std::any_of(keys_.begin(), keys_.end(),
                                       [&](const RingKey& k) { return k.kid == fresh_kid; })) {
    return foundation::Error::internal("key ring: unusable key id");
  }
  prune(now);
  if (keys_.size() + 1 > kMaxKeys) {
    return foundation::Error::permanent(
        "too many retired signing keys still cover valid tokens; rotate less often than "
        "tokens live");
  }
  for (auto& k : keys_) {
    if (k.state == KeyState::Current) {
      k.state = KeyState::Retired;
      k.retired_at = now;
    } else if (k.state == KeyState::Next) {
      k.state = KeyState::Current;
    }
  }
  keys_.push_back(makeKey(std::move(fresh_kid), KeyState::Next, std::move(fresh), now));
  prune(now);  // the key just retired goes at once if it never signed a valid token
  return checkInvariants();
}

void KeyRing::noteSigned(std::string_view kid, std::int64_t exp) {
  for (auto& k : keys_) {
    if (k.kid == kid) k.signed_until = std::max(k.signed_until, exp);
  }
}

std::size_t KeyRing::prune(std::int64_t now) {
  const auto before = keys_.size();
  std::erase_if(keys_, [&](const RingKey& k) {
    return k.state == KeyState::Retired && k.signed_until <= now;
  });
  return before - keys_.size();
}

std::vector<const RingKey*> KeyRing::published(std::int64_t now) const {
  std::vector<const RingKey*> out;
  for (const auto& k : keys_) {
    if (k.state != KeyState::Retired || k.signed_until > now) out.push_back(&k);
  }
  return out;
}

}  // namespace smtpplugin
