// sender_rule.h: the one definition of "this address may be used as a sender": the
// pattern syntax an operator writes in a profile's `senders`, and the match applied to
// the envelope sender and to every header address that names a sender.
//
// SECURITY: the patterns are operator input (checked at configuration load); the
// addresses are untrusted but already passed checkAddress / parseAddressList
// (address.h). Matching is exact (ASCII case-insensitive), never a substring.
// ERRORS: checkSenderPattern returns a Permanent error naming what is wrong.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"

namespace mailformat {

// A sender pattern is "local@domain" (this address) or "*@domain" (any address at
// exactly this domain, not its subdomains). No other wildcards.
foundation::Status checkSenderPattern(std::string_view pattern);

// True if `address` matches one of `patterns` (ASCII case-insensitive), or `patterns`
// is empty. The null sender (empty address) matches only an empty list.
bool senderAllowed(const std::vector<std::string>& patterns, std::string_view address);

}  // namespace mailformat
