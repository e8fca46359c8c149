// mime_fuzz.cc: libFuzzer target for the MIME builder, fed any bytes in every field
// (what a JSON submission that passed its checks could carry, and more): the message
// is always in wire form (CRLF only, no bare CR, no NUL, lines <= 998).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../fakes/wire_form.h"
#include "mailformat/mime.h"

namespace {

// Splits the input at 0x00 bytes into up to `n` fields.
std::string_view next(std::string_view& rest) {
  const auto nul = rest.find('\0');
  const auto field = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace mime = mailformat::mime;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  mime::Message m;
  m.from = {std::string(next(rest)), "app@example.test"};
  m.to.push_back({std::string(next(rest)), "a@example.test"});
  m.subject = std::string(next(rest));
  m.text = std::string(next(rest));
  m.html = std::string(next(rest));
  const auto header = next(rest);
  if (!header.empty()) m.extra_headers.emplace_back("X-Fuzz", std::string(header));
  const auto filename = next(rest);
  if (!filename.empty()) {
    m.attachments.push_back(
        {std::string(filename), "application/octet-stream", std::string(next(rest))});
  }
  // The fields the builder trusts to be checked (no CR/LF in names and header values,
  // as submit_json guarantees); text and html may hold anything but NUL.
  for (const auto* field : {&m.from.name, &m.to[0].name, &m.subject}) {
    if (field->find_first_of("\r\n") != std::string::npos) return 0;
  }
  if (!m.extra_headers.empty() &&
      m.extra_headers[0].second.find_first_of("\r\n") != std::string::npos) {
    return 0;
  }
  mime::BuildOptions options;
  options.date = std::chrono::system_clock::time_point{};
  options.message_id = "fuzz@example.test";
  options.boundary_seed = "fuzz";
  if (!testing_wire::isWireForm(mime::build(m, options))) std::abort();
  return 0;
}
