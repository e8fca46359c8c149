// answer.cc: request target and answer mapping (see answer.h).
//
// SECURITY: the answer body is untrusted (whatever listens on the socket); RapidJSON
// in iterative mode, only the members named below are read, and every text printed is
// passed through printable().
// ERRORS: none raised; unexpected answers map to EX_SOFTWARE or EX_TEMPFAIL.
#include "sendmail/answer.h"

#include <rapidjson/document.h>

#include "sendmail/failure.h"

namespace sendmail {
namespace {

using rapidjson::Value;

bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '@';
}

void appendEncoded(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (isUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

std::string_view stringMember(const Value& object, const char* name) {
  if (!object.IsObject()) return {};
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

int intMember(const Value& object, const char* name) {
  if (!object.IsObject()) return 0;
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsInt()) return 0;
  return it->value.GetInt();
}

// "550 5.1.1 no such user" from {"code": 550, "message": "5.1.1 no such user"}.
std::string smtpText(const Value& reply) {
  const int code = intMember(reply, "code");
  const auto text = stringMember(reply, "message");
  std::string out = code != 0 ? std::to_string(code) : std::string();
  if (!text.empty()) out += (out.empty() ? "" : " ") + printable(text, 160);
  return out;
}

// "a@b (550 5.1.1 ...), c@d (450 ...)": the recipients the server did not accept.
std::string notAccepted(const Value& holder) {
  if (!holder.IsObject()) return {};
  const auto it = holder.FindMember("recipients");
  if (it == holder.MemberEnd() || !it->value.IsArray()) return {};
  std::string out;
  std::size_t listed = 0, more = 0;
  for (const auto& r : it->value.GetArray()) {
    if (stringMember(r, "status") == "accepted") continue;
    if (listed == 10) {
      ++more;
      continue;
    }
    if (!out.empty()) out += ", ";
    out += printable(stringMember(r, "address"), 100);
    const auto reply = smtpText(r);
    if (!reply.empty()) out += " (" + reply + ")";
    ++listed;
  }
  if (more > 0) out += " and " + std::to_string(more) + " more";
  return out;
}

}  // namespace

std::string requestTarget(std::optional<std::string_view> from,
                          const std::vector<std::string>& recipients) {
  std::string target = "/v1/messages?";
  if (from) {
    target += "from=";
    appendEncoded(target, *from);
  }
  for (const auto& r : recipients) {
    if (target.back() != '?') target += '&';
    target += "to=";
    appendEncoded(target, r);
  }
  return target;
}

Verdict mapAnswer(unsigned http_status, std::string_view body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(body.data(),
                                                                                body.size());
  const bool json = !doc.HasParseError() && doc.IsObject();
  static const Value kNull;
  const Value& error = json && doc.HasMember("error") ? doc["error"] : kNull;
  const auto code = printable(stringMember(error, "code"), 64);
  const auto message = printable(stringMember(error, "message"), 300);
  const auto status = std::to_string(http_status);
  // "HTTP 422 invalid_address: to: address must look like local@domain"
  auto reason = [&] {
    std::string out = "HTTP " + status;
    if (!code.empty()) out += " " + code;
    if (!message.empty()) out += ": " + message;
    return out;
  };

  if (http_status == 200 || http_status == 202) {
    const auto sent = json ? stringMember(doc, "status") : std::string_view{};
    if (sent == "sent" || sent == "queued") return {kExOk, {}};
    if (sent == "partially_sent") {
      return {kExUnavailable,
              "sent, but the SMTP server did not accept these recipients: " + notAccepted(doc)};
    }
    return {kExSoftware, "unexpected answer from the sidecar (HTTP " + status + ", status \"" +
                             printable(sent, 32) + "\")"};
  }
  switch (http_status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return {kExDataErr, "the sidecar refused the message: " + reason()};
    case 403:
      return {kExNoPerm, "the sidecar does not allow this submission: " + reason()};
    case 429:
    case 503:
      return {kExTempFail, "the sidecar cannot send now, try again later: " + reason()};
    case 502: {
      std::string line = "the SMTP server refused the message: " + reason();
      // Per-recipient replies when the server refused at RCPT, else its one reply.
      const auto recipients = notAccepted(error);
      if (!recipients.empty()) {
        line += "; not accepted: " + recipients;
      } else if (error.IsObject() && error.HasMember("smtp")) {
        const auto reply = smtpText(error["smtp"]);
        if (!reply.empty()) line += " (" + reply + ")";
      }
      return {kExUnavailable, line};
    }
    default:
      break;
  }
  if (http_status >= 500) return {kExTempFail, "the sidecar failed: " + reason()};
  // 404, 405, 431 ...: our request or the peer is not what we expect.
  return {kExSoftware, "unexpected answer from the sidecar: " + reason()};
}

Verdict mapTransportError(const TransportError& error, std::string_view socket_path) {
  const auto path = printable(socket_path, 200);
  const auto detail = printable(error.detail, 200);
  switch (error.kind) {
    case TransportFailure::SocketMissing:
      // Temporary: a sidecar that stops cleanly removes its socket, so a restart
      // looks like this too; the caller's mail should wait, not bounce.
      return {kExTempFail, "no smtp-sidecar socket at " + path + " (" + detail +
                               "): is smtp-sidecar running? (or set SMTP_SIDECAR_SOCKET or "
                               "--socket=PATH)"};
    case TransportFailure::PermissionDenied:
      return {kExNoPerm, "not allowed to connect to " + path + " (" + detail +
                             "); the caller must be in the socket's group"};
    case TransportFailure::Refused:
      return {kExTempFail, "smtp-sidecar is not listening on " + path + " (" + detail + ")"};
    case TransportFailure::Timeout:
      return {kExTempFail, "no answer from smtp-sidecar on " + path + " in time"};
    case TransportFailure::Broken:
      return {kExTempFail, "the connection to smtp-sidecar on " + path + " broke (" + detail +
                               "); the message may or may not have been sent"};
    case TransportFailure::BadAnswer:
      return {kExSoftware, "unreadable answer from " + path + " (" + detail + ")"};
    case TransportFailure::BadPath:
      return {kExUsage, "socket path " + path + " is not usable (" + detail + ")"};
  }
  return {kExSoftware, "internal error"};
}

}  // namespace sendmail
