// submit_json.h: the JSON form of a submission (POST /v1/messages, application/json).
//
// SECURITY: untrusted client input. Pure parsing with limits: the fields listed below
// and nothing else, bounded counts and lengths, every address through checkAddress,
// header names restricted to RFC 5322 field-name characters and never one the sidecar
// writes itself (From, Date, Message-ID, MIME structure ...), header values without
// CR, LF or NUL. The result is turned into a message by mailformat::mime::build, which encodes
// every value, so nothing a client sends can add a header line or a MIME part.
// ERRORS: ApiError: 400 for malformed JSON or wrong types, 422 for invalid content.
#pragma once

#include <string_view>

#include "mailformat/mime.h"
#include "sidecar/intake/submit_request.h"

namespace sidecar::submit {

inline constexpr std::size_t kMaxExtraHeaders = 50;
inline constexpr std::size_t kMaxAttachments = 100;
inline constexpr std::size_t kMaxSubjectBytes = 998;
inline constexpr std::size_t kMaxHeaderValueBytes = 998;

struct JsonSubmission {
  Envelope envelope;                  // from + to/cc/bcc addresses
  mailformat::mime::Message message;  // what mailformat::mime::build turns into the message text
};

// {"from": addr, "to": [addr...] | addr, "cc": [...], "bcc": [...], "reply_to": addr,
//  "subject": str, "text": str, "html": str, "headers": {name: value},
//  "attachments": [{"filename": str, "content_type": str, "content": base64}]}
// where addr is "a@b", "Name <a@b>" or {"name": str, "address": str}.
Parsed<JsonSubmission> parseJsonSubmission(std::string_view body);

}  // namespace sidecar::submit
