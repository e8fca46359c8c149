// submit_json.cc: JSON submissions -> envelope + mailformat::mime::Message (see submit_json.h).
//
// SECURITY: untrusted input; RapidJSON in iterative mode (no recursion on deep
// nesting), fixed field whitelist, limits from submit_json.h.
// ERRORS: ApiError values.
#include "sidecar/intake/submit_json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace sidecar::submit {
namespace {

using rapidjson::Value;

ApiError malformed(std::string message) {
  return ApiError{400, "malformed_json", std::move(message)};
}
ApiError invalidHeader(std::string message) {
  return ApiError{422, "invalid_header", std::move(message)};
}

std::string_view view(const Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

bool hasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Parsed<mailformat::mime::Mailbox> parseMailbox(const Value& v, std::string_view field) {
  mailformat::mime::Mailbox box;
  if (v.IsString()) {
    const auto s = trim(view(v));
    const auto lt = s.rfind('<');
    if (!s.empty() && s.back() == '>' && lt != std::string_view::npos) {
      auto name = trim(s.substr(0, lt));
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
        name = name.substr(1, name.size() - 2);
      }
      box.name = std::string(name);
      box.address = std::string(s.substr(lt + 1, s.size() - lt - 2));
    } else {
      box.address = std::string(s);
    }
  } else if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      const auto key = view(it->name);
      if (!it->value.IsString())
        return malformed(std::string(field) + "." + std::string(key) + " must be a string");
      if (key == "name")
        box.name = std::string(view(it->value));
      else if (key == "address")
        box.address = std::string(view(it->value));
      else
        return malformed(std::string(field) + ": unknown member \"" + std::string(key) + "\"");
    }
  } else {
    return malformed(std::string(field) + " must be an address string or {name, address}");
  }
  if (auto r = checkAddress(box.address, false); auto* e = std::get_if<ApiError>(&r)) {
    e->message = std::string(field) + ": " + e->message;
    return *e;
  }
  if (hasLineBreakOrNul(box.name) || box.name.size() > 256) {
    return invalidHeader(std::string(field) +
                         ": display name has a line break, NUL, or is "
                         "longer than 256 bytes");
  }
  return box;
}

Parsed<std::vector<mailformat::mime::Mailbox>> parseMailboxList(const Value& v,
                                                                std::string_view field) {
  std::vector<mailformat::mime::Mailbox> out;
  auto add = [&](const Value& item) -> std::optional<ApiError> {
    auto box = parseMailbox(item, field);
    if (auto* e = std::get_if<ApiError>(&box)) return *e;
    out.push_back(std::move(std::get<mailformat::mime::Mailbox>(box)));
    return std::nullopt;
  };
  if (v.IsArray()) {
    if (v.Size() > kMaxRecipients) {
      return ApiError{
          422, "too_many_recipients",
          std::string(field) + " has more than " + std::to_string(kMaxRecipients) + " addresses"};
    }
    for (const auto& item : v.GetArray()) {
      if (auto e = add(item)) return *e;
    }
  } else if (auto e = add(v)) {
    return *e;
  }
  return out;
}

// RFC 5322 3.6.8 field-name: printable ASCII except ':'.
bool isFieldName(std::string_view name) {
  return !name.empty() && name.size() <= 76 && std::all_of(name.begin(), name.end(), [](char c) {
    return c > 32 && c < 127 && c != ':';
  });
}

// Headers the sidecar writes or that describe the transport; a client may not set them.
bool isReservedHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 14> reserved = {"from",
                                                                "to",
                                                                "cc",
                                                                "bcc",
                                                                "reply-to",
                                                                "subject",
                                                                "date",
                                                                "message-id",
                                                                "mime-version",
                                                                "received",
                                                                "return-path",
                                                                "sender",
                                                                "dkim-signature",
                                                                "content-transfer-encoding"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  if (lower.rfind("content-", 0) == 0) return true;
  return std::find(reserved.begin(), reserved.end(), lower) != reserved.end();
}

// type/subtype with RFC 2045 token characters only.
bool isMediaType(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == s.size() || s.size() > 127) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("/!#$&^_.+-").find(c) != std::string_view::npos;
  });
}

std::optional<ApiError> parseAttachments(const Value& v,
                                         std::vector<mailformat::mime::Attachment>& out) {
  if (!v.IsArray()) return malformed("attachments must be an array");
  if (v.Size() > kMaxAttachments) {
    return ApiError{422, "too_many_attachments",
                    "more than " + std::to_string(kMaxAttachments) + " attachments"};
  }
  for (const auto& item : v.GetArray()) {
    if (!item.IsObject()) return malformed("each attachment must be an object");
    mailformat::mime::Attachment a;
    a.content_type = "application/octet-stream";
    bool have_content = false;
    for (auto it = item.MemberBegin(); it != item.MemberEnd(); ++it) {
      const auto key = view(it->name);
      if (!it->value.IsString()) {
        return malformed("attachment." + std::string(key) + " must be a string");
      }
      const auto value = view(it->value);
      if (key == "filename") {
        if (value.empty() || value.size() > 255 || hasLineBreakOrNul(value) ||
            value.find_first_of("/\\") != std::string_view::npos) {
          return ApiError{422, "invalid_attachment",
                          "attachment filename must be 1-255 bytes without a path, line break "
                          "or NUL"};
        }
        a.filename = std::string(value);
      } else if (key == "content_type") {
        if (!isMediaType(value)) {
          return ApiError{422, "invalid_attachment",
                          "attachment content_type must be type/subtype"};
        }
        a.content_type = std::string(value);
      } else if (key == "content") {
        if (!mailformat::mime::base64Decode(value, a.content)) {
          return ApiError{422, "invalid_attachment", "attachment content is not valid base64"};
        }
        have_content = true;
      } else {
        return malformed("attachment: unknown member \"" + std::string(key) + "\"");
      }
    }
    if (a.filename.empty() || !have_content) {
      return malformed("each attachment needs filename and content");
    }
    out.push_back(std::move(a));
  }
  return std::nullopt;
}

}  // namespace

Parsed<JsonSubmission> parseJsonSubmission(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
            rapidjson::kParseStopWhenDoneFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    return malformed(std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                     ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return malformed("the request body must be a JSON object");

  JsonSubmission out;
  bool have_from = false;
  std::vector<mailformat::mime::Mailbox> bcc;
  const Value& root = doc;  // const iterators: a mixed comparison is ambiguous in C++20
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    const auto key = view(it->name);
    const Value& v = it->value;
    auto needString = [&](std::size_t max) -> std::variant<std::string_view, ApiError> {
      if (!v.IsString()) return malformed(std::string(key) + " must be a string");
      if (v.GetStringLength() > max) {
        return ApiError{422, "invalid_message",
                        std::string(key) + " is longer than " + std::to_string(max) + " bytes"};
      }
      return view(v);
    };
    if (key == "from") {
      auto box = parseMailbox(v, "from");
      if (auto* e = std::get_if<ApiError>(&box)) return *e;
      out.message.from = std::move(std::get<mailformat::mime::Mailbox>(box));
      have_from = true;
    } else if (key == "to" || key == "cc" || key == "bcc" || key == "reply_to") {
      auto list = parseMailboxList(v, key);
      if (auto* e = std::get_if<ApiError>(&list)) return *e;
      auto& boxes = std::get<std::vector<mailformat::mime::Mailbox>>(list);
      (key == "to"    ? out.message.to
       : key == "cc"  ? out.message.cc
       : key == "bcc" ? bcc
                      : out.message.reply_to) = std::move(boxes);
    } else if (key == "subject") {
      auto s = needString(kMaxSubjectBytes);
      if (auto* e = std::get_if<ApiError>(&s)) return *e;
      if (hasLineBreakOrNul(std::get<std::string_view>(s))) {
        return invalidHeader("subject contains CR, LF or NUL");
      }
      out.message.subject = std::string(std::get<std::string_view>(s));
    } else if (key == "text" || key == "html") {
      auto s = needString(std::string::npos - 1);
      if (auto* e = std::get_if<ApiError>(&s)) return *e;
      const auto text = std::get<std::string_view>(s);
      if (text.find('\0') != std::string_view::npos) {
        return ApiError{422, "invalid_message", std::string(key) + " contains a NUL byte"};
      }
      (key == "text" ? out.message.text : out.message.html) = std::string(text);
    } else if (key == "headers") {
      if (!v.IsObject()) return malformed("headers must be an object of name: value");
      if (v.MemberCount() > kMaxExtraHeaders) {
        return invalidHeader("more than " + std::to_string(kMaxExtraHeaders) + " headers");
      }
      for (auto h = v.MemberBegin(); h != v.MemberEnd(); ++h) {
        const auto name = view(h->name);
        if (!isFieldName(name)) return invalidHeader("header name is not a valid field name");
        if (isReservedHeader(name)) {
          return invalidHeader("header " + std::string(name) + " is set by the sidecar");
        }
        if (!h->value.IsString()) return malformed("header values must be strings");
        const auto value = view(h->value);
        if (hasLineBreakOrNul(value) || value.size() > kMaxHeaderValueBytes) {
          return invalidHeader("header " + std::string(name) +
                               " has CR, LF or NUL in its value, or is too long");
        }
        out.message.extra_headers.emplace_back(std::string(name), std::string(value));
      }
    } else if (key == "attachments") {
      if (auto e = parseAttachments(v, out.message.attachments)) return *e;
    } else {
      return malformed("unknown member \"" + std::string(key) + "\"");
    }
  }

  if (!have_from) return ApiError{400, "missing_sender", "\"from\" is required"};
  for (const auto* list : {&out.message.to, &out.message.cc, &bcc}) {
    for (const auto& box : *list) out.envelope.recipients.push_back(box.address);
  }
  if (out.envelope.recipients.empty()) {
    return ApiError{400, "missing_recipient", "at least one of to, cc or bcc is required"};
  }
  if (out.envelope.recipients.size() > kMaxRecipients) {
    return ApiError{422, "too_many_recipients",
                    "more than " + std::to_string(kMaxRecipients) + " recipients in all"};
  }
  if (out.message.text.empty() && out.message.html.empty() && out.message.attachments.empty()) {
    return ApiError{400, "empty_message", "one of text, html or attachments is required"};
  }
  out.envelope.from = out.message.from.address;
  return out;
}

}  // namespace sidecar::submit
