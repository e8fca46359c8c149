// mime_test.cc: building MIME messages (RFC 5322, 2045-2047).
#include "mailformat/mime.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace mailformat::mime;

namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find("\r\n", start);
    REQUIRE_MESSAGE(end != std::string::npos, "every line ends in CRLF");
    out.push_back(s.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

BuildOptions fixedOptions() {
  return {std::chrono::system_clock::time_point(std::chrono::seconds(1795356562)),
          "id1@example.test", "SEED"};
}

}  // namespace

TEST_CASE("encodeHeaderText") {
  struct Case {
    const char* input;
    const char* want;
  };
  const Case cases[] = {
      {"Hello", "Hello"},
      {"Gr\xc3\xbc\xc3\x9f"
       "e",
       "=?utf-8?B?R3LDvMOfZQ==?="},
      {"looks =?encoded?= but is not", "=?utf-8?B?bG9va3MgPT9lbmNvZGVkPz0gYnV0IGlzIG5vdA==?="},
      {"tab\there", "=?utf-8?B?dGFiCWhlcmU=?="},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    CHECK(encodeHeaderText(c.input, 9) == c.want);
  }
}

TEST_CASE("long non-ASCII subjects fold into lines of at most 76 columns at character borders") {
  std::string subject;
  for (int i = 0; i < 40; ++i) subject += "\xc3\xa4\xe2\x82\xac";  // "ä€"
  const std::string folded = "Subject: " + encodeHeaderText(subject, 9);
  std::istringstream in(folded);
  std::string line;
  std::string decoded;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    CHECK(line.size() <= 76);
    auto start = line.find("=?utf-8?B?");
    while (start != std::string::npos) {
      auto end = line.find("?=", start + 10);
      std::string bytes;
      REQUIRE(base64Decode(line.substr(start + 10, end - start - 10), bytes));
      // each encoded word holds whole UTF-8 characters: none starts with a continuation byte
      REQUIRE_FALSE(bytes.empty());
      CHECK((static_cast<unsigned char>(bytes[0]) & 0xC0) != 0x80);
      decoded += bytes;
      start = line.find("=?utf-8?B?", end);
    }
  }
  CHECK(decoded == subject);
}

TEST_CASE("formatMailbox quotes or encodes display names") {
  CHECK(formatMailbox({"", "a@b.test"}) == "<a@b.test>");
  CHECK(formatMailbox({"App", "a@b.test"}) == "App <a@b.test>");
  CHECK(formatMailbox({"Doe, John", "a@b.test"}) == "\"Doe, John\" <a@b.test>");
  CHECK(formatMailbox({"Say \"hi\"", "a@b.test"}) == "\"Say \\\"hi\\\"\" <a@b.test>");
  CHECK(formatMailbox({"J\xc3\xb6rg", "a@b.test"}) == "=?utf-8?B?SsO2cmc=?= <a@b.test>");
}

TEST_CASE("formatDate") {
  CHECK(formatDate(std::chrono::system_clock::time_point(std::chrono::seconds(0))) ==
        "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("quotedPrintable") {
  CHECK(quotedPrintable("plain\n") == "plain\r\n");
  CHECK(quotedPrintable("a=b") == "a=3Db\r\n");
  CHECK(quotedPrintable("trailing space \nx") == "trailing space=20\r\nx\r\n");
  CHECK(quotedPrintable("\xc3\xbc") == "=C3=BC\r\n");
  const std::string long_line(200, 'a');
  for (const auto& l : lines(quotedPrintable(long_line))) CHECK(l.size() <= 76);
}

TEST_CASE("base64 round trip and errors") {
  std::string out;
  CHECK(base64("hello") == "aGVsbG8=");
  CHECK(base64Decode("aGVs\r\nbG8=", out));
  CHECK(out == "hello");
  CHECK_FALSE(base64Decode("a", out));
  CHECK_FALSE(base64Decode("aGVsbG8=!", out));
  const std::string big(1000, 'x');
  for (const auto& l : lines(base64Lines(big))) CHECK(l.size() <= 76);
}

TEST_CASE("build: text only") {
  Message m;
  m.from = {"App", "app@example.test"};
  m.to = {{"", "a@example.test"}};
  m.subject = "Hi";
  m.text = "Hello\nWorld\n";
  const std::string got = build(m, fixedOptions());
  CHECK(got.find("From: App <app@example.test>\r\n") != std::string::npos);
  CHECK(got.find("To: <a@example.test>\r\n") != std::string::npos);
  CHECK(got.find("Message-ID: <id1@example.test>\r\n") != std::string::npos);
  CHECK(got.find("Date: ") == 0);
  CHECK(got.find("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 7bit\r\n\r\nHello\r\nWorld\r\n") != std::string::npos);
  for (const auto& l : lines(got)) CHECK(l.size() <= 998);
}

TEST_CASE("build: alternative + attachment nests multipart/alternative in multipart/mixed") {
  Message m;
  m.from = {"", "app@example.test"};
  m.to = {{"", "a@example.test"}};
  m.cc = {{"", "c@example.test"}};
  m.subject = "Report";
  m.text = "text body";
  m.html = "<p>html body</p>";
  m.attachments = {{"r\xc3\xa9sum\xc3\xa9.pdf", "application/pdf", std::string("%PDF\0\x01", 6)}};
  m.extra_headers = {{"X-Campaign", "spring"}};
  const std::string got = build(m, fixedOptions());
  CHECK(got.find("Content-Type: multipart/mixed;\r\n boundary=\"=_SEED_0\"") != std::string::npos);
  CHECK(got.find("Content-Type: multipart/alternative;\r\n boundary=\"=_SEED_1\"") !=
        std::string::npos);
  CHECK(got.find("X-Campaign: spring\r\n") != std::string::npos);
  CHECK(got.find("filename*=utf-8''r%C3%A9sum%C3%A9.pdf") != std::string::npos);
  CHECK(got.find("JVBERgAB") != std::string::npos);  // base64 of the attachment
  CHECK(got.find("--=_SEED_0--\r\n") != std::string::npos);
  CHECK(got.find("--=_SEED_1--\r\n") != std::string::npos);
  CHECK(got.find("Bcc") == std::string::npos);
}

TEST_CASE("build: a boundary never occurs in the content it separates") {
  Message m;
  m.from = {"", "app@example.test"};
  m.to = {{"", "a@example.test"}};
  m.text = "--=_SEED_0\n";
  m.attachments = {{"a.txt", "text/plain", "x"}};
  const std::string got = build(m, fixedOptions());
  CHECK(got.find("boundary=\"=_SEED_0x\"") != std::string::npos);
}
