// submission_policy.h: the profile's rules for one message, shared by both intakes
// (HTTP in submit_server.cc, SMTP in smtp_server.cc), so each rule exists once: the
// envelope sender and every From address against `senders`, the recipient count, the
// token bucket, local recipients through `aliases`, and the sender of a message whose
// caller named none (`default_sender`).
//
// SECURITY: the profile comes from the kernel-verified peer (SO_PEERCRED or sock_diag),
// never from the client. Pure functions over addresses that submit_request.h and
// message_headers.h bounded and checked first.
// ERRORS: verdict values; the callers turn them into HTTP statuses or SMTP replies.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "mailformat/envelope.h"
#include "mailformat/message_headers.h"
#include "sidecar/base/config.h"
#include "sidecar/intake/profile.h"

namespace sidecar::intake {

// A profile with its token bucket and counters. One per profile name for the worker,
// shared by the HTTP and SMTP intakes: a caller cannot double its rate by using both.
struct ProfileState {
  ProfileState(Profile p, std::chrono::steady_clock::time_point now)
      : profile(std::move(p)), bucket(profile.rate_per_minute, profile.burst, now) {}
  Profile profile;
  profile::TokenBucket bucket;
  profile::ProfileStats stats;
};

enum class SenderVerdict {
  Allowed,
  EnvelopeNotAllowed,  // the envelope sender does not match `senders`
  FromUnreadable,      // a From field the strict parser could not read
  FromNotAllowed,      // a From address does not match `senders`
};

// Why, for humans (stable texts: the HTTP API returns them).
const char* describe(SenderVerdict verdict) noexcept;

SenderVerdict checkEnvelopeSender(const Profile& profile, std::string_view from);
SenderVerdict checkFromHeaders(const Profile& profile, const mailformat::HeaderSummary& headers);
// Both, envelope first.
SenderVerdict checkSenders(const Profile& profile, std::string_view envelope_from,
                           const mailformat::HeaderSummary& headers);

// The profile's own recipient limit (the absolute one, submit::kMaxRecipients, is the
// parsers' business).
bool withinRecipientLimit(const Profile& profile, std::size_t recipients);

// A local name without '@' ("root") -> the profile's alias for it, or nullopt (refused).
std::optional<std::string> resolveLocalRecipient(const Profile& profile, std::string_view name);

// The envelope sender of a message whose caller named none: the profile's
// default_sender, else the message's one From address; nullopt when neither exists.
std::optional<std::string> implicitSender(const Profile& profile,
                                          const mailformat::HeaderSummary& headers);

// RFC 5322 3.6 requires a From field: a message that has none (a cron job's output,
// `mail()` without headers) gets "From: <sender>" at the top, as Postfix's cleanup adds
// one for local submissions. Otherwise `message` is returned unchanged.
std::string withFromAdded(std::string message, std::string_view sender,
                          const mailformat::HeaderSummary& headers);

// A From field whose one mailbox is a bare local name ("From: root (Cron Daemon)", as
// cron writes it) names the caller's own account: with a default_sender it becomes that
// address, its comment kept, as Postfix qualifies such a name with myorigin. Otherwise
// `message` is returned unchanged (and the strict From check then refuses it).
std::string withLocalFromQualified(std::string message, const Profile& profile);

// ---- one submission, in the HTTP intake's order ----

// Why authorizeMessage() refused a message; the intake turns it into its answer.
enum class Refusal {
  None,
  MissingSender,          // no sender named, no default_sender, not exactly one From
  UnknownLocalRecipient,  // a local name the profile has no alias for (`detail`)
  SenderNotAllowed,       // `sender` says which check
  TooManyRecipients,      // over the profile's max_recipients
};

struct Authorization {
  Refusal refusal = Refusal::None;
  SenderVerdict sender = SenderVerdict::Allowed;
  std::string detail;                 // the unknown local recipient
  mailformat::HeaderSummary headers;  // of the message as it will be sent
};

// The profile's rules for one message, in order: a bare local From qualified, the
// sender of a message whose caller named none (and its From added), local recipients
// through the aliases, the senders (envelope and every header naming one), the
// recipient count. `envelope` and `message` are rewritten as they will be sent. The
// size limit and the token bucket are the caller's (they differ by intake).
Authorization authorizeMessage(const Profile& profile, mailformat::Envelope& envelope,
                               std::string& message);

// GET /v1/messages/{id}: ids are lowercase hex (randomHex), at most 64 characters;
// anything else is not looked up.
bool isMessageId(std::string_view id) noexcept;

// A message's status is visible to the profile that submitted it only; to any other
// it does not exist (404: its existence is not revealed either).
bool statusVisibleTo(std::string_view owner_profile, const Profile& asking) noexcept;

}  // namespace sidecar::intake
