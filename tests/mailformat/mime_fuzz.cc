// mime_fuzz.cc: libFuzzer target for the MIME builder and its encoders. The input is
// split at NUL bytes into subject, display name, text, html, attachment file name and
// content, and an extra header value: all the untrusted text a JSON submission can put
// into a message.
//
// Invariants: only CRLF line ends in every header, no line over 998 octets, no NUL in
// the output, and base64 round-trips.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailformat/mime.h"

namespace {

std::vector<std::string> fields(std::string_view input, std::size_t n) {
  std::vector<std::string> out;
  while (out.size() + 1 < n) {
    const auto nul = input.find('\0');
    if (nul == std::string_view::npos) break;
    out.emplace_back(input.substr(0, nul));
    input.remove_prefix(nul + 1);
  }
  out.emplace_back(input);
  out.resize(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace mime = mailformat::mime;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto f = fields(input, 7);
  mime::Message m;
  m.from = {f[1], "from@x.test"};
  m.to.push_back({f[1], "to@x.test"});
  m.subject = f[0];
  m.text = f[2];
  m.html = f[3];
  if (!f[4].empty() || !f[5].empty()) m.attachments.push_back({f[4], "application/octet-stream", f[5]});
  mime::BuildOptions options;
  options.message_id = "fuzz@x.test";
  options.boundary_seed = "seed";
  const auto message = mime::build(m, options);
  std::size_t line = 0;
  for (const char c : message) {
    if (c == '\0') __builtin_trap();
    line = c == '\n' ? 0 : line + 1;
    if (line > 1000) __builtin_trap();
  }
  // The header section (what the encoders produced from the untrusted values) has only
  // CRLF line ends: a bare CR or LF there could start a header of the client's choosing.
  const auto end = message.find("\r\n\r\n");
  if (end == std::string::npos) __builtin_trap();
  for (std::size_t i = 0; i < end; ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) __builtin_trap();
    if (message[i] == '\r' && message[i + 1] != '\n') __builtin_trap();
  }
  for (const auto& value : {f[0], f[1]}) {
    const auto encoded = mime::encodeHeaderText(value, 9);
    if (encoded.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos &&
        encoded.find("\r\n ") == std::string::npos) {
      __builtin_trap();
    }
  }
  std::string decoded;
  if (!mime::base64Decode(mime::base64(f[6]), decoded) || decoded != f[6]) __builtin_trap();
  return 0;
}
