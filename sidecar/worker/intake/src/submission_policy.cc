// submission_policy.cc: the profile's rules for one message (see submission_policy.h).
//
// SECURITY: pure; the inputs were bounded and checked by the parsers before.
// ERRORS: verdict values.
#include "sidecar/intake/submission_policy.h"

#include <algorithm>

#include "mailformat/address.h"
#include "mailformat/sender_rule.h"

namespace sidecar::intake {

const char* describe(SenderVerdict verdict) noexcept {
  switch (verdict) {
    case SenderVerdict::Allowed:
      return "allowed";
    case SenderVerdict::EnvelopeNotAllowed:
      return "the envelope sender is not allowed for this profile";
    case SenderVerdict::FromUnreadable:
      return "the From header could not be read, so its senders cannot be checked";
    case SenderVerdict::FromNotAllowed:
      return "a From address is not allowed for this profile";
  }
  return "refused";
}

SenderVerdict checkEnvelopeSender(const Profile& profile, std::string_view from) {
  if (profile.senders.empty() || mailformat::senderAllowed(profile.senders, from)) {
    return SenderVerdict::Allowed;
  }
  return SenderVerdict::EnvelopeNotAllowed;
}

SenderVerdict checkFromHeaders(const Profile& profile, const mailformat::HeaderSummary& headers) {
  if (profile.senders.empty()) return SenderVerdict::Allowed;
  if (headers.from_malformed) return SenderVerdict::FromUnreadable;
  for (const auto& from : headers.from) {
    if (!mailformat::senderAllowed(profile.senders, from)) return SenderVerdict::FromNotAllowed;
  }
  return SenderVerdict::Allowed;
}

SenderVerdict checkSenders(const Profile& profile, std::string_view envelope_from,
                           const mailformat::HeaderSummary& headers) {
  const auto envelope = checkEnvelopeSender(profile, envelope_from);
  if (envelope != SenderVerdict::Allowed) return envelope;
  return checkFromHeaders(profile, headers);
}

bool withinRecipientLimit(const Profile& profile, std::size_t recipients) {
  return profile.max_recipients == 0 || recipients <= profile.max_recipients;
}

std::optional<std::string> resolveLocalRecipient(const Profile& profile, std::string_view name) {
  // Local names are case-insensitive in practice (RFC 5321 requires "postmaster" so).
  for (const auto& [alias, address] : profile.aliases) {
    if (alias.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
      same = lower(alias[i]) == lower(name[i]);
    }
    if (same) return address;
  }
  return std::nullopt;
}

std::optional<std::string> implicitSender(const Profile& profile,
                                          const mailformat::HeaderSummary& headers) {
  if (!profile.default_sender.empty()) return profile.default_sender;
  if (!headers.from_malformed && headers.from.size() == 1) return headers.from.front();
  return std::nullopt;
}

std::string withFromAdded(std::string message, std::string_view sender,
                          const mailformat::HeaderSummary& headers) {
  if (!headers.from.empty() || headers.from_malformed || sender.empty()) return message;
  // summarizeHeaders() reports no address for a From field with an empty group too:
  // only a message without any From field gets one.
  std::size_t pos = 0;
  while (pos < message.size()) {
    const auto eol = message.find("\r\n", pos);
    const auto line = std::string_view(message).substr(
        pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (line.empty()) break;
    if (line.size() >= 5 && (line[0] == 'F' || line[0] == 'f') &&
        (line.substr(1, 4) == "rom:" || line.substr(1, 4) == "ROM:")) {
      return message;
    }
    if (eol == std::string::npos) break;
    pos = eol + 2;
  }
  return "From: " + std::string(sender) + "\r\n" + message;
}

std::string withLocalFromQualified(std::string message, const Profile& profile) {
  if (profile.default_sender.empty()) return message;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const auto eol = message.find("\r\n", pos);
    if (eol == std::string::npos || eol == pos) break;  // the end of the header section
    const std::string_view line(message.data() + pos, eol - pos);
    const bool is_from = line.size() > 5 && (line[0] == 'F' || line[0] == 'f') &&
                         (line.substr(1, 4) == "rom:" || line.substr(1, 4) == "ROM:");
    const bool folded =
        eol + 2 < message.size() && (message[eol + 2] == ' ' || message[eol + 2] == '\t');
    if (is_from && !folded) {
      std::string_view value = line.substr(5);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      const auto name_end = value.find(' ');
      const auto name = value.substr(0, name_end);
      std::string_view comment =
          name_end == std::string_view::npos ? std::string_view{} : value.substr(name_end + 1);
      while (!comment.empty() && comment.front() == ' ') comment.remove_prefix(1);
      const bool comment_ok =
          comment.empty() || (comment.front() == '(' && comment.back() == ')' &&
                              comment.find_first_of("()", 1) == comment.size() - 1);
      if (mailformat::isLocalName(name) && comment_ok) {
        std::string field = "From: " + profile.default_sender;
        if (!comment.empty()) field += " " + std::string(comment);
        message.replace(pos, eol - pos, field);
      }
      return message;
    }
    pos = eol + 2;
  }
  return message;
}

Authorization authorizeMessage(const Profile& profile, mailformat::Envelope& envelope,
                               std::string& message) {
  Authorization out;
  message = withLocalFromQualified(std::move(message), profile);
  out.headers = mailformat::summarizeHeaders(message);
  if (envelope.implicit_from) {
    auto sender = implicitSender(profile, out.headers);
    if (!sender) {
      out.refusal = Refusal::MissingSender;
      return out;
    }
    envelope.from = std::move(*sender);
    envelope.implicit_from = false;
    message = withFromAdded(std::move(message), envelope.from, out.headers);
  }
  for (auto& recipient : envelope.recipients) {
    if (recipient.find('@') != std::string::npos) continue;
    auto address = resolveLocalRecipient(profile, recipient);
    if (!address) {
      out.refusal = Refusal::UnknownLocalRecipient;
      out.detail = recipient;
      return out;
    }
    recipient = std::move(*address);
  }
  if (out.sender = checkSenders(profile, envelope.from, out.headers);
      out.sender != SenderVerdict::Allowed) {
    out.refusal = Refusal::SenderNotAllowed;
    return out;
  }
  if (!withinRecipientLimit(profile, envelope.recipients.size())) {
    out.refusal = Refusal::TooManyRecipients;
  }
  return out;
}

bool isMessageId(std::string_view id) noexcept {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool statusVisibleTo(std::string_view owner_profile, const Profile& asking) noexcept {
  return owner_profile == asking.name;
}

}  // namespace sidecar::intake
