// services_test.cc: translation between pb messages and the engine's types: valid JSON
// always, durations in nanoseconds, issue_time always set, error kinds -> ProtoError.
// SECURITY: test-only; no sockets (the broker is driven through record()).
// ERRORS: doctest assertions.
#include "plugin/services.h"

#include <doctest/doctest.h>

using namespace smtpplugin;

TEST_CASE("requestFromProto") {
  pb::Request in;
  in.set_operation("renew");
  in.set_path("creds/app");
  in.set_data("null");
  in.set_display_name("approle");
  auto* secret = in.mutable_secret();
  secret->set_internal_data(R"({"secret_type":"smtp_login"})");
  secret->mutable_lease_options()->set_ttl(300 * kNanosPerSecond);
  secret->mutable_lease_options()->set_increment(60 * kNanosPerSecond);
  secret->mutable_lease_options()->mutable_issue_time()->set_seconds(1'800'000'000);
  const Request got = requestFromProto(in);
  CHECK(got.operation == "renew");
  CHECK(got.path == "creds/app");
  REQUIRE(got.secret.has_value());
  CHECK(got.secret->increment_ns == 60 * kNanosPerSecond);
  CHECK(got.secret->issue_time_s == 1'800'000'000);
  CHECK(got.secret->has_issue_time);

  // Go's zero time (issue_time never set by a Go plugin) is not a real issue time.
  secret->mutable_lease_options()->mutable_issue_time()->set_seconds(-62135596800LL);
  CHECK_FALSE(requestFromProto(in).secret->has_issue_time);
  in.clear_secret();
  CHECK_FALSE(requestFromProto(in).secret.has_value());
}

TEST_CASE("responseToProto: a lease") {
  Response r;
  r.data_json = R"({"username":"u"})";
  LeaseOut lease;
  lease.ttl_ns = 300 * kNanosPerSecond;
  lease.max_ttl_ns = 3600 * kNanosPerSecond;
  lease.issue_time_s = 1'800'000'000;
  lease.internal_data = R"({"secret_type":"smtp_login"})";
  r.secret = lease;
  pb::HandleRequestReply reply;
  responseToProto(foundation::Result<Response>(std::move(r)), reply);
  CHECK_FALSE(reply.has_err());
  REQUIRE(reply.has_response());
  CHECK(reply.response().data() == R"({"username":"u"})");
  const auto& opts = reply.response().secret().lease_options();
  CHECK(opts.ttl() == 300 * kNanosPerSecond);
  CHECK(opts.maxttl() == 3600 * kNanosPerSecond);
  CHECK(opts.renewable());
  CHECK(opts.has_issue_time());
  CHECK(opts.issue_time().seconds() == 1'800'000'000);
}

TEST_CASE("responseToProto: JSON fields are never empty") {
  Response r;
  r.data_json = "";
  r.secret = LeaseOut{};
  pb::HandleRequestReply reply;
  responseToProto(foundation::Result<Response>(std::move(r)), reply);
  CHECK(reply.response().data() == "null");
  CHECK(reply.response().secret().internal_data() == "null");
  CHECK(reply.response().secret().lease_options().has_issue_time());
}

TEST_CASE("responseToProto: no response, refusals and error kinds") {
  {
    Response r;
    r.none = true;
    pb::HandleRequestReply reply;
    responseToProto(foundation::Result<Response>(std::move(r)), reply);
    CHECK_FALSE(reply.has_response());
    CHECK_FALSE(reply.has_err());
  }
  const struct {
    Response::Refusal refusal;
    std::uint32_t want;
  } refusals[] = {{Response::Refusal::UnsupportedPath, 6},
                  {Response::Refusal::UnsupportedOperation, 5}};
  for (const auto& c : refusals) {
    Response r;
    r.refusal = c.refusal;
    pb::HandleRequestReply reply;
    responseToProto(foundation::Result<Response>(std::move(r)), reply);
    CHECK(reply.err().err_type() == c.want);
  }
  const struct {
    foundation::Error error;
    std::uint32_t want;
  } errors[] = {
      {foundation::Error::permanent("unknown role 'x'"), 1},
      // Temporary must never be 5/6/7/10: Vault would mark a revocation irrevocable.
      {foundation::Error::temporary("database down"), 0},
      {foundation::Error::internal("bug"), 2},
  };
  for (const auto& c : errors) {
    pb::HandleRequestReply reply;
    responseToProto(foundation::Result<Response>(c.error), reply);
    CHECK(reply.err().err_type() == c.want);
    CHECK(reply.err().err_msg() == c.error.message);
    CHECK_FALSE(reply.has_response());
  }
}

TEST_CASE("broker: ConnInfo may arrive before or after Setup asks for it") {
  BrokerService broker;
  plugin::ConnInfo info;
  info.set_service_id(1);
  info.set_network("unix");
  info.set_address("/tmp/plugin1");
  broker.record(info);
  auto got = broker.waitFor(1, std::chrono::milliseconds(10));
  REQUIRE(got.has_value());
  CHECK(got->address() == "/tmp/plugin1");
  CHECK_FALSE(broker.waitFor(2, std::chrono::milliseconds(10)).has_value());
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    info.set_service_id(3);
    broker.record(info);
  });
  CHECK(broker.waitFor(3, std::chrono::seconds(5)).has_value());
  later.join();
}
