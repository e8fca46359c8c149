// submission_policy_test.cc: the profile rules both intakes share, the new profile
// settings (default_sender, aliases) and the SMTP intake's listen keys, and the reply
// after DATA for each dispatcher outcome.
//
// SECURITY: the sender rules decide what a caller may claim to be; each row is one
// case of what may and may not pass.
// ERRORS: doctest assertions.
#include "sidecar/intake/submission_policy.h"

#include <doctest/doctest.h>

#include "sidecar/intake/smtp_server.h"

namespace {

using namespace sidecar;
using namespace sidecar::intake;

const char* kBase = R"(
[vault]
address = "https://127.0.0.1:8200"
role_id_file = "/run/sidecar/role_id"
secret_id_file = "/run/sidecar/secret_id"
credential_path = "database/creds/example-app"

[smtp]
host = "127.0.0.1"
ca_file = "/etc/ssl/mail-ca.pem"

[listen]
socket = "/run/sidecar/smtp.sock"
)";

Profile profileWith(std::vector<std::string> senders, std::string default_sender = {}) {
  Profile p;
  p.name = "app";
  p.senders = std::move(senders);
  p.default_sender = std::move(default_sender);
  p.aliases = {{"root", "ops@example.org"}, {"Ops", "team@example.org"}};
  return p;
}

mailformat::HeaderSummary fromHeader(std::string_view message) {
  return mailformat::summarizeHeaders(message);
}

}  // namespace

TEST_CASE("sender rules: envelope first, then every From address") {
  const auto p = profileWith({"app@example.org", "*@mail.example.org"});
  struct Row {
    const char* envelope;
    const char* message;
    SenderVerdict expected;
  };
  const Row rows[] = {
      {"app@example.org", "From: app@example.org\r\n\r\n", SenderVerdict::Allowed},
      {"x@mail.example.org", "From: A <y@mail.example.org>\r\n\r\n", SenderVerdict::Allowed},
      {"evil@example.org", "From: app@example.org\r\n\r\n", SenderVerdict::EnvelopeNotAllowed},
      {"", "From: app@example.org\r\n\r\n", SenderVerdict::EnvelopeNotAllowed},
      {"app@example.org", "From: evil@example.org\r\n\r\n", SenderVerdict::FromNotAllowed},
      {"app@example.org", "From: app@example.org, evil@example.org\r\n\r\n",
       SenderVerdict::FromNotAllowed},
      {"app@example.org", "From: \"unclosed <app@example.org>\r\n\r\n",
       SenderVerdict::FromUnreadable},
      {"app@example.org", "Subject: no From\r\n\r\n", SenderVerdict::Allowed},
  };
  for (const auto& row : rows) {
    CAPTURE(row.envelope);
    CAPTURE(row.message);
    CHECK(checkSenders(p, row.envelope, fromHeader(row.message)) == row.expected);
  }
  // No sender rules: anything.
  CHECK(checkSenders(profileWith({}), "", fromHeader("From: x@y.z\r\n\r\n")) ==
        SenderVerdict::Allowed);
}

TEST_CASE("recipient limit, aliases and the implicit sender") {
  auto p = profileWith({"app@example.org"}, "app@example.org");
  p.max_recipients = 2;
  CHECK(withinRecipientLimit(p, 2));
  CHECK_FALSE(withinRecipientLimit(p, 3));
  p.max_recipients = 0;
  CHECK(withinRecipientLimit(p, 100));

  CHECK(resolveLocalRecipient(p, "root") == std::optional<std::string>("ops@example.org"));
  CHECK(resolveLocalRecipient(p, "ROOT") == std::optional<std::string>("ops@example.org"));
  CHECK(resolveLocalRecipient(p, "ops") == std::optional<std::string>("team@example.org"));
  CHECK_FALSE(resolveLocalRecipient(p, "postmaster"));

  CHECK(implicitSender(p, fromHeader("From: other@example.org\r\n\r\n")) ==
        std::optional<std::string>("app@example.org"));
  const auto no_default = profileWith({});
  CHECK(implicitSender(no_default, fromHeader("From: A <a@example.org>\r\n\r\n")) ==
        std::optional<std::string>("a@example.org"));
  CHECK_FALSE(implicitSender(no_default, fromHeader("From: a@example.org, b@example.org\r\n\r\n")));
  CHECK_FALSE(implicitSender(no_default, fromHeader("Subject: x\r\n\r\n")));
}

TEST_CASE("a From is added only to a message without one; cron's local From is qualified") {
  const std::string none = "Subject: x\r\n\r\nbody\r\n";
  CHECK(withFromAdded(none, "app@example.org", fromHeader(none)) ==
        "From: app@example.org\r\nSubject: x\r\n\r\nbody\r\n");
  const std::string has = "From: a@example.org\r\n\r\n";
  CHECK(withFromAdded(has, "app@example.org", fromHeader(has)) == has);
  const std::string empty_group = "From: undisclosed:;\r\n\r\n";
  CHECK(withFromAdded(empty_group, "app@example.org", fromHeader(empty_group)) == empty_group);

  const auto p = profileWith({"app@example.org"}, "app@example.org");
  CHECK(withLocalFromQualified("From: root (Cron Daemon)\r\nTo: root\r\n\r\nroot\r\n", p) ==
        "From: app@example.org (Cron Daemon)\r\nTo: root\r\n\r\nroot\r\n");
  CHECK(withLocalFromQualified("Subject: s\r\nFrom: root\r\n\r\n", p) ==
        "Subject: s\r\nFrom: app@example.org\r\n\r\n");
  // Anything but a bare local name stays as it is (and the strict check decides).
  for (const char* kept : {"From: a@example.org\r\n\r\n", "From: root <evil@x.y>\r\n\r\n",
                           "From: root (a) (b)\r\n\r\n", "From: root\r\n (folded)\r\n\r\n"}) {
    CAPTURE(kept);
    CHECK(withLocalFromQualified(kept, p) == kept);
  }
  CHECK(withLocalFromQualified("From: root\r\n\r\n", profileWith({})) == "From: root\r\n\r\n");
}

TEST_CASE("config: default_sender, aliases and the SMTP listen keys") {
  const std::string toml = std::string(kBase) + R"(
smtp_socket = "/run/sidecar/submit.sock"
smtp_port = 2525
smtp_max_connections = 20
smtp_timeout_seconds = 60
smtp_host_name = "sidecar.example.org"

[[profile]]
name = "cron"
uids = [0]
senders = ["cron@example.org"]
default_sender = "cron@example.org"
aliases = { root = "ops@example.org", ops = "ops@example.org" }
)";
  auto got = parseConfig(toml, {});
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->listen.smtp_socket_path == "/run/sidecar/submit.sock");
  CHECK(got->listen.smtp_port == 2525);
  CHECK(got->listen.smtp_max_connections == 20);
  CHECK(got->listen.smtp_timeout == std::chrono::seconds(60));
  CHECK(got->listen.smtp_host_name == "sidecar.example.org");
  CHECK(got->profiles[0].default_sender == "cron@example.org");
  CHECK(got->profiles[0].aliases.at("root") == "ops@example.org");

  auto defaults = parseConfig(kBase, {});
  REQUIRE(defaults.ok());
  CHECK(defaults->listen.smtp_socket_path.empty());  // off unless configured
  CHECK(defaults->listen.smtp_port == 0);

  auto env = parseConfig(kBase, {{"SMTP_SIDECAR_LISTEN_SMTP_PORT", "2526"}});
  REQUIRE(env.ok());
  CHECK(env->listen.smtp_port == 2526);

  struct Bad {
    const char* extra;
    const char* message;
  };
  const Bad bad[] = {
      {"smtp_port = 70000\n", "smtp_port"},
      {"smtp_socket = \"/run/sidecar/smtp.sock\"\n", "must differ"},
      {"smtp_host_name = \"bad host\"\n", "smtp_host_name"},
      {"[[profile]]\nname = \"p\"\nuids = [1]\nsenders = [\"a@example.org\"]\n"
       "default_sender = \"b@example.org\"\n",
       "not allowed by the profile's senders"},
      {"[[profile]]\nname = \"p\"\nuids = [1]\ndefault_sender = \"nodomain\"\n", "default_sender"},
      {"[[profile]]\nname = \"p\"\nuids = [1]\naliases = { root = \"not an address\" }\n",
       "aliases"},
      {"[[profile]]\nname = \"p\"\nuids = [1]\naliases = { \"a b\" = \"x@example.org\" }\n",
       "local name"},
      {"[[profile]]\nname = \"p\"\nuids = [1]\naliases = [\"x\"]\n", "aliases"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.extra);
    auto r = parseConfig(std::string(kBase) + b.extra, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.errorMessage().find(b.message) != std::string::npos);
  }
}

TEST_CASE("the reply after DATA tells the next hop's truth") {
  submit::SubmitResult r;
  r.no_credential = true;
  auto reply = replyForResult(r);
  CHECK(reply.code == 451);
  CHECK(reply.enhanced == "4.3.0");

  r.no_credential = false;
  r.send.outcome = relay::SendOutcome::Accepted;
  r.send.reply = {250, "2.0.0 Ok: queued as 4XyZ"};
  r.send.recipients = {{"a@example.org", {250, "2.1.5 Ok"}}};
  reply = replyForResult(r);
  CHECK(reply.code == 250);
  CHECK(reply.text == "sent; next hop: Ok: queued as 4XyZ");

  r.send.recipients.push_back({"b@example.org", {550, "5.1.1 <b@example.org>: no such user"}});
  reply = replyForResult(r);
  CHECK(reply.code == 250);
  CHECK(reply.text ==
        "sent to 1 of 2 recipients; refused by the next hop:\n"
        "b@example.org: 550 5.1.1 <b@example.org>: no such user");

  r.send.outcome = relay::SendOutcome::Rejected;
  r.send.reply = {554, "5.7.1 <x>: Relay access denied"};
  reply = replyForResult(r);
  CHECK(reply.code == 554);
  CHECK(reply.enhanced == "5.7.1");
  CHECK(reply.text == "the next hop refused the message: <x>: Relay access denied");

  r.send.outcome = relay::SendOutcome::TemporaryFailure;
  r.send.reply = {421, "4.3.2 shutting down"};
  reply = replyForResult(r);
  CHECK(reply.code == 451);  // never 421: that would close the client's connection
  CHECK(reply.enhanced == "4.3.2");
  r.send.reply = {};
  r.send.detail = "connection refused";
  reply = replyForResult(r);
  CHECK(reply.code == 451);
  CHECK(reply.enhanced == "4.4.1");
  CHECK(reply.text == "the next hop is unavailable: connection refused");

  r.send.outcome = relay::SendOutcome::AuthRefused;
  CHECK(replyForResult(r).code == 451);
  r.send.outcome = relay::SendOutcome::TlsFailure;
  r.send.detail =
      "TLS verification failed: the certificate of the SMTP server 127.0.0.1:587 does not cover "
      "the name 127.0.0.1; connect by a name the certificate lists";
  reply = replyForResult(r);
  CHECK(reply.enhanced == "4.7.5");
  // doctor's words (relay/smtp_diagnosis.h), as the HTTP answer carries them.
  CHECK(reply.text == "TLS with the next hop failed: " + r.send.detail);
  // Within RFC 5321's 512-octet reply line, whatever the detail's length.
  r.send.detail = std::string(2000, 'x');
  CHECK(replyForResult(r).text.size() + 10 <= 512);
  r.send.outcome = relay::SendOutcome::TemporaryFailure;
  CHECK(replyForResult(r).text.size() + 10 <= 512);
}

// The HTTP intake's Session asks authorizeMessage() and only turns its answer into a
// status: each refusal, in the order the rules apply, and what an accepted message
// becomes.
TEST_CASE("authorizeMessage: the profile's rules for one message, in order") {
  auto p = profileWith({"app@example.org"}, "app@example.org");
  p.max_recipients = 2;
  auto noDefault = profileWith({"app@example.org"});
  struct Row {
    const char* name;
    const Profile* profile;
    const char* from;  // nullptr: the caller named none
    std::vector<std::string> recipients;
    const char* message;
    Refusal refusal;
    SenderVerdict sender;
    const char* sent_from;  // the envelope sender as it will be sent
  };
  const Row rows[] = {
      {"allowed",
       &p,
       "app@example.org",
       {"a@example.org"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::None,
       SenderVerdict::Allowed,
       "app@example.org"},
      {"implicit sender: the default",
       &p,
       nullptr,
       {"a@example.org"},
       "Subject: s\r\n\r\nb\r\n",
       Refusal::None,
       SenderVerdict::Allowed,
       "app@example.org"},
      {"implicit sender: the one From",
       &noDefault,
       nullptr,
       {"a@example.org"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::None,
       SenderVerdict::Allowed,
       "app@example.org"},
      {"implicit sender: none",
       &noDefault,
       nullptr,
       {"a@example.org"},
       "Subject: s\r\n\r\nb\r\n",
       Refusal::MissingSender,
       SenderVerdict::Allowed,
       ""},
      {"local name with an alias",
       &p,
       "app@example.org",
       {"root"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::None,
       SenderVerdict::Allowed,
       "app@example.org"},
      {"local name without an alias",
       &p,
       "app@example.org",
       {"nobody"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::UnknownLocalRecipient,
       SenderVerdict::Allowed,
       "app@example.org"},
      {"envelope sender",
       &p,
       "evil@example.org",
       {"a@example.org"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::SenderNotAllowed,
       SenderVerdict::EnvelopeNotAllowed,
       "evil@example.org"},
      {"address before the angle",
       &p,
       "app@example.org",
       {"a@example.org"},
       "From: evil@evil.test <app@example.org>\r\n\r\nb\r\n",
       Refusal::SenderNotAllowed,
       SenderVerdict::FromUnreadable,
       "app@example.org"},
      {"Resent-From",
       &p,
       "app@example.org",
       {"a@example.org"},
       "From: app@example.org\r\nResent-From: evil@evil.test\r\n\r\nb\r\n",
       Refusal::SenderNotAllowed,
       SenderVerdict::FromNotAllowed,
       "app@example.org"},
      {"too many recipients",
       &p,
       "app@example.org",
       {"a@example.org", "b@example.org", "c@example.org"},
       "From: app@example.org\r\n\r\nb\r\n",
       Refusal::TooManyRecipients,
       SenderVerdict::Allowed,
       "app@example.org"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    mailformat::Envelope envelope;
    envelope.implicit_from = row.from == nullptr;
    envelope.from = row.from ? row.from : "";
    envelope.recipients = row.recipients;
    std::string message = row.message;
    const auto got = authorizeMessage(*row.profile, envelope, message);
    CHECK(got.refusal == row.refusal);
    CHECK(got.sender == row.sender);
    if (row.refusal == Refusal::MissingSender) continue;
    CHECK(envelope.from == row.sent_from);
    CHECK_FALSE(envelope.implicit_from);
    if (row.refusal == Refusal::None) {
      // What goes out names its sender and only addresses with a domain.
      CHECK(message.find("From: ") != std::string::npos);
      for (const auto& r : envelope.recipients) CHECK(r.find('@') != std::string::npos);
    }
    if (row.refusal == Refusal::UnknownLocalRecipient) CHECK(got.detail == "nobody");
  }
}

TEST_CASE("message status: lowercase hex ids only, visible to the submitting profile only") {
  struct Row {
    std::string id;
    bool ok;
  };
  const Row rows[] = {
      {"0123456789abcdef0123456789abcdef", true},
      {"a", true},
      {std::string(64, 'f'), true},
      {std::string(65, 'f'), false},
      {"", false},
      {"ABCDEF", false},
      {"../etc", false},
      {"abc%00", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.id);
    CHECK(isMessageId(row.id) == row.ok);
  }
  const auto app = profileWith({});
  CHECK(statusVisibleTo("app", app));
  CHECK_FALSE(statusVisibleTo("other", app));
  CHECK_FALSE(statusVisibleTo("", app));
}
