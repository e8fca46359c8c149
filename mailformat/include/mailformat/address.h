// address.h: what an e-mail address is, for every part of the project: the envelope
// check (MAIL FROM / RCPT TO) and the ONE parser of RFC 5322 address lists (From,
// Sender, To, Cc, Bcc), shared by the sidecar and smtp-sidecar-sendmail so that a
// client and the server can never disagree about which address a header names.
//
// SECURITY: untrusted input. Pure, no I/O, bounded. Envelope addresses are checked the
// way postdrop checks envelope records: no CR, LF or NUL (no SMTP command injection),
// no spaces or angle brackets, bounded length. The list parser is strict on purpose:
// what it cannot read with certainty is malformed (nullopt), so no address can hide
// from a sender check in odd syntax.
// ERRORS: std::optional: an error text for humans (safe to log, echoes no input), or
// nullopt for a list that is not a clean address list.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailformat {

// RFC 5321 4.5.3.1: 64-byte local part, 254-byte path (256 with the brackets).
inline constexpr std::size_t kMaxLocalPart = 64;
inline constexpr std::size_t kMaxAddress = 254;
// Recipients of one submission, for the sidecar and its sendmail alike. Postfix's
// default smtpd_recipient_limit is 1000; a single app's message needs far fewer, and
// each one is an RCPT round trip while the client waits.
inline constexpr std::size_t kMaxRecipients = 100;

// Checks one envelope address ("local@domain"); nullopt when it is acceptable. Empty is
// allowed only when `allow_empty` (the null sender). Deliberately narrower than RFC
// 5321 (no quoted local parts, no address literals).
std::optional<std::string> checkAddress(std::string_view address, bool allow_empty);

// A recipient without a domain ("root", cron's MAILTO=ops): 1-64 of [A-Za-z0-9._+-].
// Never sent as it is: only a profile alias of the sidecar turns it into an address.
bool isLocalName(std::string_view name);

// The addr-spec of each mailbox of an address list ("Name <a@b>" -> "a@b",
// "a@b (comment)" -> "a@b"; group names dropped: "team: a@b, c@d;" -> a@b, c@d;
// "undisclosed-recipients:;" -> empty list), each passing checkAddress. nullopt if the
// value is malformed or names more than `max_addresses` mailboxes.
std::optional<std::vector<std::string>> parseAddressList(std::string_view value,
                                                         std::size_t max_addresses);

}  // namespace mailformat
