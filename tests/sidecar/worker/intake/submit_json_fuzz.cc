// submit_json_fuzz.cc: libFuzzer target for JSON submissions (client input): no
// crash; an accepted submission is within its limits, and the MIME message built from
// it is in wire form (CRLF only, no NUL, lines <= 998).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../../../fakes/wire_form.h"
#include "mailformat/mime.h"
#include "sidecar/intake/submit_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sidecar;
  namespace mime = mailformat::mime;
  std::string body(reinterpret_cast<const char*>(data), size);
  auto copy = submit::parseJsonSubmission(body);
  auto in_place = submit::parseJsonSubmissionInPlace(body);
  // Both readings agree on accepting (in place refuses a NUL in the body up front).
  if (std::holds_alternative<submit::JsonSubmission>(in_place) &&
      !std::holds_alternative<submit::JsonSubmission>(copy)) {
    std::abort();
  }
  const auto* s = std::get_if<submit::JsonSubmission>(&copy);
  if (s == nullptr) return 0;
  if (s->envelope.recipients.empty() || s->envelope.recipients.size() > submit::kMaxRecipients)
    std::abort();
  if (s->message.attachments.size() > submit::kMaxAttachments) std::abort();
  if (s->message.extra_headers.size() > submit::kMaxExtraHeaders) std::abort();
  mime::BuildOptions options;
  options.date = std::chrono::system_clock::time_point{};
  options.message_id = "fuzz@example.test";
  options.boundary_seed = "fuzz";
  if (!testing_wire::isWireForm(mime::build(s->message, options))) std::abort();
  return 0;
}
