// engine_harness.h: an Engine on the in-memory fakes (fakes.h) and the calls every
// engine test makes (a request, the config for the fake database, a role), shared by
// engine_test.cc (passwords) and token_test.cc (tokens).
//
// SECURITY: test-only; the database password is a fake in ordinary memory.
// ERRORS: a call the test needs to succeed is a REQUIRE, with the engine's message.
#pragma once

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>

#include "fakes.h"
#include "foundation/secret.h"
#include "plugin/engine.h"

namespace smtpplugin::testing {

inline rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

struct EngineHarness {
  FakeStorage storage;
  FakeSystemView system_view;
  FakeDatabase db;
  FakeMailStoreFactory factory{db};
  FakeClock clock;
  CountingRandom random;
  Engine engine{storage, system_view, factory, clock, random};
  // What Vault sends along with each request (the caller's token name, the mount).
  std::string display_name = "token-App";
  std::string mount_point;

  EngineHarness() { foundation::initSecretMemoryOrDie(); }

  foundation::Result<Response> call(const std::string& op, const std::string& path,
                                    const std::string& data = "null") {
    Request r;
    r.operation = op;
    r.path = path;
    r.data_json = data;
    r.display_name = display_name;
    r.mount_point = mount_point;
    return engine.handle(r);
  }
  // The config for the fake database and mail.test, plus `fields` (JSON members).
  void writeConfig(const std::string& fields) {
    auto got = call("update", "config",
                    R"({"connection_url":"host=127.0.0.1 port=5432 dbname=mail",)"
                    R"("username":"vault_admin","password":"db-secret","smtp_host":"mail.test",)" +
                        fields + "}");
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.errorMessage()));
  }
  void role(const std::string& name, const std::string& data) {
    auto got = call("update", "roles/" + name, data);
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.errorMessage()));
  }
};

}  // namespace smtpplugin::testing
