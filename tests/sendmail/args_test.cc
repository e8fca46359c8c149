// args_test.cc: the sendmail command line (table-driven).
#include "sendmail/args.h"

#include <doctest/doctest.h>

using namespace sendmail;

namespace {

std::vector<std::string_view> words(std::initializer_list<const char*> list) {
  return {list.begin(), list.end()};
}

}  // namespace

TEST_CASE("parseArguments accepts the sendmail flags applications use") {
  struct Case {
    std::vector<std::string_view> args;
    bool t;
    bool dot_ends;
    const char* sender;  // nullptr: not set
    const char* full_name;
    std::vector<std::string> recipients;
  };
  const Case cases[] = {
      {words({"a@x.test"}), false, true, nullptr, nullptr, {"a@x.test"}},
      {words({"-t"}), true, true, nullptr, nullptr, {}},
      {words({"-t", "-i"}), true, false, nullptr, nullptr, {}},
      {words({"-ti"}), true, false, nullptr, nullptr, {}},
      {words({"-it", "a@x.test"}), true, false, nullptr, nullptr, {"a@x.test"}},
      {words({"-oi", "a@x.test"}), false, false, nullptr, nullptr, {"a@x.test"}},
      {words({"-o", "i", "a@x.test"}), false, false, nullptr, nullptr, {"a@x.test"}},
      {words({"-f", "app@x.test", "a@x.test"}), false, true, "app@x.test", nullptr, {"a@x.test"}},
      {words({"-fapp@x.test", "a@x.test"}), false, true, "app@x.test", nullptr, {"a@x.test"}},
      {words({"-f", "<app@x.test>", "a@x.test"}), false, true, "app@x.test", nullptr, {"a@x.test"}},
      {words({"-f", "<>", "a@x.test"}), false, true, "", nullptr, {"a@x.test"}},
      {words({"-r", "app@x.test", "a@x.test"}), false, true, "app@x.test", nullptr, {"a@x.test"}},
      {words({"-tf", "app@x.test"}), true, true, "app@x.test", nullptr, {}},
      {words({"-F", "Jörg App", "-f", "app@x.test", "a@x.test"}),
       false,
       true,
       "app@x.test",
       "Jörg App",
       {"a@x.test"}},
      {words({"-FName", "a@x.test"}), false, true, nullptr, "Name", {"a@x.test"}},
      {words({"-bm", "a@x.test"}), false, true, nullptr, nullptr, {"a@x.test"}},
      {words({"-b", "m", "a@x.test"}), false, true, nullptr, nullptr, {"a@x.test"}},
      // Postfix's sendmail ignores these.
      {words({"-odi", "-odb",     "-oem", "-oep",      "-oee", "-om",  "-oXfoo",  "-v",
              "-B",   "8BITMIME", "-N",   "never",     "-R",   "hdrs", "-X",      "/tmp/log",
              "-L",   "label",    "-C",   "/etc/x.cf", "-G",   "-U",   "-m",      "-n",
              "-h",   "17",       "-V",   "envid",     "-O",   "X=y",  "a@x.test"}),
       false,
       true,
       nullptr,
       nullptr,
       {"a@x.test"}},
      {words({"-BBITMIME", "-Nsuccess,failure", "a@x.test"}),
       false,
       true,
       nullptr,
       nullptr,
       {"a@x.test"}},
      // Options end at the first recipient and at "--".
      {words({"a@x.test", "-t", "b@x.test"}),
       false,
       true,
       nullptr,
       nullptr,
       {"a@x.test", "-t", "b@x.test"}},
      {words({"-i", "--", "-odd@x.test"}), false, false, nullptr, nullptr, {"-odd@x.test"}},
      // An option's argument is the next word even when it starts with '-'.
      {words({"-f", "-t", "a@x.test"}), false, true, "-t", nullptr, {"a@x.test"}},
      {words({"-"}), false, true, nullptr, nullptr, {"-"}},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (auto a : c.args) joined += std::string(a) + " ";
    CAPTURE(joined);
    auto got = parseArguments(c.args);
    REQUIRE(std::holds_alternative<Options>(got));
    const auto& o = std::get<Options>(got);
    CHECK(o.extract_recipients == c.t);
    CHECK(o.dot_ends_input == c.dot_ends);
    CHECK(o.sender.has_value() == (c.sender != nullptr));
    if (c.sender != nullptr && o.sender) CHECK(*o.sender == c.sender);
    CHECK(o.full_name.has_value() == (c.full_name != nullptr));
    if (c.full_name != nullptr && o.full_name) CHECK(*o.full_name == c.full_name);
    CHECK(o.recipients == c.recipients);
  }
}

TEST_CASE("parseArguments refuses unknown and unsupported flags with EX_USAGE") {
  struct Case {
    std::vector<std::string_view> args;
    const char* message_part;
  };
  const Case cases[] = {
      {words({"-Z", "a@x.test"}), "unknown option -Z"},
      {words({"-tZ"}), "unknown option -Z"},
      {words({"-q"}), "-q (queue runs) is not supported"},
      {words({"-q1h"}), "-q (queue runs) is not supported"},
      {words({"-qR", "example.test"}), "-q (queue runs)"},
      {words({"-bp"}), "mode -bp is not supported"},
      {words({"-bd"}), "mode -bd"},
      {words({"-bi"}), "mode -bi"},
      {words({"-bv", "a@x.test"}), "mode -bv"},
      {words({"-I"}), "newaliases"},
      {words({"-f"}), "option -f needs an argument"},
      {words({"-t", "-F"}), "option -F needs an argument"},
      {words({"-F", "Evil\r\nBcc: victim@x.test", "a@x.test"}), "without CR, LF or NUL"},
      {words({"--bogus"}), "unknown option --bogus"},
      {words({"--socket", "/x"}), "--socket=PATH"},
      {words({"--timeout", "5"}), "--timeout=SECONDS"},
      {words({"--socket="}), "--socket needs a path"},
      {words({"--max-size=0"}), "--max-size needs"},
      {words({"--max-size=12k"}), "--max-size needs"},
      {words({"--timeout=0"}), "--timeout needs"},
      {words({"--timeout=99999999"}), "--timeout needs"},
      {words({"--help=x"}), "unknown option --help"},
  };
  for (const auto& c : cases) {
    const std::string part = c.message_part;
    CAPTURE(part);
    auto got = parseArguments(c.args);
    REQUIRE(std::holds_alternative<Failure>(got));
    const auto& f = std::get<Failure>(got);
    CHECK(f.exit_code == 64);
    CHECK(f.message.find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("parseArguments reads the long options") {
  auto got =
      parseArguments(words({"--socket=/tmp/s.sock", "--max-size=1000", "--timeout=5", "-t"}));
  REQUIRE(std::holds_alternative<Options>(got));
  const auto& o = std::get<Options>(got);
  CHECK(o.socket_path == "/tmp/s.sock");
  CHECK(o.max_message_bytes == 1000);
  CHECK(o.timeout == std::chrono::seconds(5));
  CHECK(o.extract_recipients);

  auto defaults = parseArguments(words({"a@x.test"}));
  REQUIRE(std::holds_alternative<Options>(defaults));
  CHECK(std::get<Options>(defaults).max_message_bytes == 25u * 1024 * 1024);
  CHECK_FALSE(std::get<Options>(defaults).socket_path.has_value());
  CHECK(std::get<Options>(parseArguments(words({"--help"}))).help);
  CHECK(std::get<Options>(parseArguments(words({"--version"}))).version);
}

TEST_CASE("parseArguments limits argument count and length") {
  std::vector<std::string_view> many(kMaxArguments + 1, "a@x.test");
  CHECK(std::holds_alternative<Failure>(parseArguments(many)));
  const std::string long_word(kMaxArgumentBytes + 1, 'a');
  CHECK(std::holds_alternative<Failure>(parseArguments({long_word})));
  CHECK(std::holds_alternative<Failure>(parseArguments({"-f", long_word})));
  const std::string long_name(kMaxFullNameBytes + 1, 'n');
  CHECK(std::holds_alternative<Failure>(parseArguments({"-F", long_name, "a@x.test"})));
}

TEST_CASE("-bs asks for SMTP on stdin/stdout; --smtp-socket names the socket") {
  auto got = parseArguments({"-bs"});
  REQUIRE(std::holds_alternative<sendmail::Options>(got));
  CHECK(std::get<sendmail::Options>(got).smtp_on_stdio);
  got = parseArguments({"-b", "s", "--smtp-socket=/run/x/submit.sock"});
  REQUIRE(std::holds_alternative<sendmail::Options>(got));
  CHECK(std::get<sendmail::Options>(got).smtp_socket_path == "/run/x/submit.sock");
  // Debian cron's exact argv parses, with the local recipient kept.
  got = parseArguments({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"});
  REQUIRE(std::holds_alternative<sendmail::Options>(got));
  const auto& cron = std::get<sendmail::Options>(got);
  CHECK(cron.full_name == "CronDaemon");
  CHECK_FALSE(cron.dot_ends_input);
  CHECK_FALSE(cron.sender);
  CHECK(cron.recipients == std::vector<std::string>{"root"});
}
