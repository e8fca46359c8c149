// request_fields_fuzz.cc: libFuzzer target for request parsing: arbitrary bytes as a
// request's data JSON, run through RequestFields and through the engine's config and
// roles handlers (against in-memory fakes), which must never crash or accept garbage
// silently. Its corpus runs as a test in every build (label fuzz-regression).
// SECURITY: the input is hostile by construction; fakes only, no I/O.
// ERRORS: any crash, sanitizer report or hang is a finding; results are ignored.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fakes.h"
#include "foundation/secret.h"
#include "plugin/engine.h"
#include "plugin/request_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace smtpplugin;
  using namespace smtpplugin::testing;
  foundation::initSecretMemoryOrDie();
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto fields = RequestFields::parse(input);
  if (fields.ok()) {
    for (const auto& key : fields->keys()) {
      (void)fields->getString(key);
      (void)fields->getInt(key);
      (void)fields->getBool(key);
      (void)fields->getDurationSeconds(key);
      (void)fields->getStringList(key);
    }
  }
  auto secret = foundation::SecretBytes::copyOf(std::string_view(input));
  (void)RequestFields::parseInPlace(secret);
  FakeStorage storage;
  FakeSystemView system_view;
  FakeDatabase db;
  FakeMailStoreFactory factory(db);
  FakeClock clock;
  CountingRandom random;
  Engine engine(storage, system_view, factory, clock, random);
  for (const char* path : {"config", "roles/fuzz"}) {
    Request r;
    r.operation = "update";
    r.path = path;
    r.data_json = input;
    (void)engine.handle(r);
  }
  Request creds;
  creds.operation = "read";
  creds.path = "creds/fuzz";
  (void)engine.handle(creds);
  Request revoke;
  revoke.operation = "revoke";
  revoke.path = "creds/fuzz";
  revoke.secret = LeaseIn{};
  revoke.secret->internal_data = input;
  (void)engine.handle(revoke);
  return 0;
}
