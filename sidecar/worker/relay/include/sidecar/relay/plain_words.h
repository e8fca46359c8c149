// plain_words.h: the machinery of the plain-words tables, written once for the SMTP
// diagnosis (smtp_diagnosis.h, which the worker runs) and doctor's Vault findings
// (sidecar/doctor), so that both fill, match and bound their words the same way:
// a cause and its hint, {name} placeholders, case-blind matching of a library's text,
// untrusted text made one bounded line. In the relay room because both link it.
//
// SECURITY: pure. Untrusted text (a server's reply, a TLS library's or Vault's error)
// is made printable by the caller (printableLine) and passed as a `theirs` value:
// those are filled in last, so a placeholder inside them is never expanded.
// ERRORS: none.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sidecar::relay {

struct PlainCause {
  bool ok = false;
  std::string what;  // ok: what was found; failure: the cause, in plain words
  std::string hint;  // what to do about it (failures; may be empty)
};

// Untrusted text made fit for one output line: control bytes become spaces, runs of
// spaces collapse, at most `max` bytes (cut with "...").
std::string printableLine(std::string_view text, std::size_t max = 300);

// `needle` in `haystack`, ASCII case ignored; an empty needle is in everything (a
// table's "any text" column).
bool containsNoCase(std::string_view haystack, std::string_view needle);

// Placeholder values: {name} -> value.
using PlainVars = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Replaces each {name} of `vars` in `text`, once, left to right (a value is not
// scanned again); unknown names stay as they are.
std::string fillPlaceholders(std::string_view text, PlainVars vars);

// A failure's words: our values (`ours`) filled first, then the untrusted ones.
PlainCause plainFailure(std::string_view cause, std::string_view hint, PlainVars ours,
                        PlainVars theirs = {});

}  // namespace sidecar::relay
