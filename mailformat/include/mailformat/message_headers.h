// message_headers.h: the header fields the sidecar decides on: the From addresses
// (checked against a profile's senders) and the Message-ID (for the audit log).
//
// SECURITY: untrusted client input (the submitted message). Pure, no I/O, bounded:
// only the header section is read (it ends at the first empty line), at most
// kMaxFromAddresses addresses. The From parser is strict on purpose: what it cannot
// read with certainty is reported malformed, and a profile with sender rules then
// refuses the message, so no address can hide from the check in odd syntax.
// ERRORS: `from_malformed` and an empty `from` instead of exceptions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailformat {

inline constexpr std::size_t kMaxFromAddresses = 100;
inline constexpr std::size_t kMaxMessageIdLength = 250;

struct HeaderSummary {
  std::vector<std::string> from;  // addr-specs of every mailbox in every From field
  bool from_malformed = false;    // a From field that is not a clean mailbox list
  // The first Message-ID's id without angle brackets; printable ASCII only, at most
  // kMaxMessageIdLength (longer or odd ids are dropped: "" then).
  std::string message_id;
};

// `message` as normalizeRawMessage() returns it (CRLF line endings), or as MIME build
// produces it.
HeaderSummary summarizeHeaders(std::string_view message);

}  // namespace mailformat
