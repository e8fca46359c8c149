// loadgen.cc: the benchmark's load generator (bench/run drives it; not a test).
//
//   sidecar-loadgen http  --socket PATH --clients N --messages M --size BYTES [--async]
//   sidecar-loadgen smtp  --host H --port P --clients N --messages M --size BYTES
//   sidecar-loadgen idle  --socket PATH --connections N
//
// http: N threads, each with one keep-alive HTTP/1.1 connection over the sidecar's Unix
// socket (Boost.Beast), POST /v1/messages (message/rfc822) until M messages are
// submitted in all; with --async each request carries "Prefer: respond-async" and a 202
// counts as accepted. smtp: the same clients speak plain SMTP straight to a server
// (keep-alive, one EHLO per connection): the direct path the sidecar's added latency is
// measured against. Both print one JSON line: counts, seconds, submit latency
// percentiles (time from the first byte of a request to its complete answer).
// idle: opens N connections, prints "open N", and holds them until stdin closes.
//
// SECURITY: a benchmark tool on loopback; it holds no credential and sends only the
// synthetic message it builds.
// ERRORS: a failed request is counted (with the first error's text) and the client
// opens a new connection; an SMTP 421 at MAIL (the server closing) is not a failure:
// the message is resent on a new connection, counted as "reconnects". Exit 2 on bad
// arguments, 1 when nothing could connect.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using local = asio::local::stream_protocol;

struct Options {
  std::string mode;
  std::string socket_path;
  std::string host = "127.0.0.1";
  std::string port = "25";
  std::string from = "app@example.test";
  std::string to = "bench@sink.test";
  unsigned clients = 1;
  unsigned long messages = 1000;
  std::size_t size = 2048;
  bool async = false;
  unsigned connections = 1000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "sidecar-loadgen: %s (see the comment at the top of bench/loadgen.cc)\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("an option lacks its value");
      return argv[++i];
    };
    if (a == "--socket")
      o.socket_path = value();
    else if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = value();
    else if (a == "--from")
      o.from = value();
    else if (a == "--to")
      o.to = value();
    else if (a == "--clients")
      o.clients = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--messages")
      o.messages = std::stoul(value());
    else if (a == "--size")
      o.size = std::stoul(value());
    else if (a == "--connections")
      o.connections = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--async")
      o.async = true;
    else
      usage("unknown option");
  }
  if (o.clients == 0 || o.messages == 0) usage("--clients and --messages must be positive");
  return o;
}

// A message of about `size` bytes: headers, then 76-character lines (CRLF).
std::string buildMessage(const Options& o) {
  std::string m = "From: <" + o.from + ">\r\nTo: <" + o.to +
                  ">\r\nSubject: benchmark\r\nMessage-ID: <bench@sidecar.invalid>\r\n"
                  "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n";
  const std::string line(76, 'x');
  while (m.size() + line.size() + 2 <= o.size) m += line + "\r\n";
  if (m.size() + 2 < o.size) m += std::string(o.size - m.size() - 2, 'y') + "\r\n";
  return m;
}

// Shared by the client threads.
struct Run {
  explicit Run(const Options& o) : options(o), message(buildMessage(o)) {}
  const Options& options;
  const std::string message;
  std::atomic<unsigned long> next{0};
  std::mutex mutex;
  std::vector<double> latencies_us;  // merged at the end of each thread
  std::map<int, unsigned long> statuses;
  unsigned long ok = 0;
  unsigned long errors = 0;
  unsigned long reconnects = 0;  // 421 at MAIL, message resent on a new connection
  std::string first_error;

  bool take() { return next.fetch_add(1) < options.messages; }
  void merge(std::vector<double>& mine, std::map<int, unsigned long>& st, unsigned long good,
             unsigned long bad, const std::string& error, unsigned long reconnected = 0) {
    std::lock_guard lock(mutex);
    latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
    for (auto& [k, v] : st) statuses[k] += v;
    ok += good;
    errors += bad;
    reconnects += reconnected;
    if (first_error.empty()) first_error = error;
  }
};

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void httpClient(Run& run) {
  const Options& o = run.options;
  asio::io_context io;
  std::vector<double> lat;
  std::map<int, unsigned long> statuses;
  unsigned long good = 0, bad = 0;
  std::string error;
  const std::string target = "/v1/messages?from=" + o.from + "&to=" + o.to;
  const int expected = o.async ? 202 : 200;
  local::socket sock(io);
  boost::beast::flat_buffer buffer;
  while (run.take()) {
    boost::system::error_code ec;
    if (!sock.is_open()) {
      sock.connect(local::endpoint(o.socket_path), ec);
      if (ec) {
        ++bad;
        if (error.empty()) error = "connect: " + ec.message();
        sock = local::socket(io);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      buffer.clear();
    }
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::content_type, "message/rfc822");
    if (o.async) req.set("Prefer", "respond-async");
    req.keep_alive(true);
    req.body() = run.message;
    req.prepare_payload();
    const auto t0 = Clock::now();
    http::write(sock, req, ec);
    http::response<http::string_body> res;
    if (!ec) http::read(sock, buffer, res, ec);
    const auto t1 = Clock::now();
    if (ec) {
      ++bad;
      if (error.empty()) error = "http: " + ec.message();
      sock.close(ec);
      sock = local::socket(io);
      continue;
    }
    const int status = static_cast<int>(res.result_int());
    ++statuses[status];
    if (status == expected) {
      ++good;
      lat.push_back(micros(t1 - t0));
    } else {
      ++bad;
      if (error.empty())
        error = "status " + std::to_string(status) + ": " + res.body().substr(0, 200);
    }
    if (!res.keep_alive()) {
      sock.close(ec);
      sock = local::socket(io);
    }
  }
  run.merge(lat, statuses, good, bad, error);
}

// Reads one (possibly multi-line) SMTP reply; returns its code or 0.
int smtpReply(asio::ip::tcp::socket& s, asio::streambuf& in, boost::system::error_code& ec) {
  for (;;) {
    asio::read_until(s, in, "\r\n", ec);
    if (ec) return 0;
    std::istream is(&in);
    std::string line;
    std::getline(is, line);
    if (line.size() < 4) return 0;
    if (line[3] == ' ') return std::atoi(line.substr(0, 3).c_str());
  }
}

void smtpClient(Run& run) {
  const Options& o = run.options;
  asio::io_context io;
  // A numeric address: the benchmark talks to loopback, no resolver needed.
  const asio::ip::tcp::endpoint server(asio::ip::make_address(o.host),
                                       static_cast<unsigned short>(std::stoul(o.port)));
  std::vector<double> lat;
  std::map<int, unsigned long> statuses;
  unsigned long good = 0, bad = 0, reconnects = 0;
  std::string error;
  asio::ip::tcp::socket sock(io);
  asio::streambuf in;
  // The message with dot-stuffing (none needed: no line starts with '.') and the end.
  const std::string data = run.message + ".\r\n";
  const std::string envelope = "MAIL FROM:<" + o.from + ">\r\nRCPT TO:<" + o.to + ">\r\nDATA\r\n";
  auto drop = [&] {
    boost::system::error_code ignored;
    sock.close(ignored);
    sock = asio::ip::tcp::socket(io);
  };
  auto fail = [&](const std::string& what) {
    ++bad;
    if (error.empty()) error = what;
    drop();
  };
  // A 421 at MAIL is the server closing the connection before the message (RFC 5321
  // 3.8; the intake does so after SmtpLimits::max_messages on one connection, as Exim
  // does after 1000): nothing was accepted, so a client resends on a new connection.
  // Bounded, so a server that answers 421 to everything still ends the row with errors.
  constexpr int kAttemptsPerMessage = 3;
  int attempts_left = 0;
  bool resend = false;
  Clock::time_point t0;  // a resent message's latency includes its reconnection
  while (resend || run.take()) {
    const bool first_attempt = !resend;
    if (first_attempt) attempts_left = kAttemptsPerMessage;
    resend = false;
    boost::system::error_code ec;
    if (!sock.is_open()) {
      in.consume(in.size());
      sock.connect(server, ec);
      if (ec || smtpReply(sock, in, ec) != 220) {
        fail("connect: " + ec.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      asio::write(sock, asio::buffer(std::string("EHLO loadgen\r\n")), ec);
      if (ec || smtpReply(sock, in, ec) != 250) {
        fail("EHLO");
        continue;
      }
    }
    if (first_attempt) t0 = Clock::now();
    // PIPELINING, as smtp-source and libcurl's peers allow: MAIL, RCPT, DATA at once.
    asio::write(sock, asio::buffer(envelope), ec);
    const int mail = ec ? 0 : smtpReply(sock, in, ec);
    if (mail == 421 && --attempts_left > 0) {
      ++reconnects;
      drop();
      resend = true;
      continue;
    }
    const int rcpt = ec ? 0 : smtpReply(sock, in, ec);
    const int go = ec ? 0 : smtpReply(sock, in, ec);
    if (ec || mail != 250 || rcpt != 250 || go != 354) {
      fail("envelope refused: " + std::to_string(mail) + "/" + std::to_string(rcpt) + "/" +
           std::to_string(go));
      continue;
    }
    asio::write(sock, asio::buffer(data), ec);
    const int done = ec ? 0 : smtpReply(sock, in, ec);
    const auto t1 = Clock::now();
    ++statuses[done];
    if (done != 250) {
      fail("DATA refused: " + std::to_string(done));
      continue;
    }
    ++good;
    lat.push_back(micros(t1 - t0));
  }
  if (sock.is_open()) {
    boost::system::error_code ec;
    asio::write(sock, asio::buffer(std::string("QUIT\r\n")), ec);
  }
  run.merge(lat, statuses, good, bad, error, reconnects);
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

int load(const Options& o) {
  Run run(o);
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (unsigned i = 0; i < o.clients; ++i) {
    threads.emplace_back([&run, &o] { o.mode == "smtp" ? smtpClient(run) : httpClient(run); });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(run.latencies_us.begin(), run.latencies_us.end());
  std::printf(
      "{\"mode\":\"%s\",\"async\":%s,\"clients\":%u,\"messages\":%lu,\"bytes\":%zu,"
      "\"ok\":%lu,\"errors\":%lu,\"reconnects\":%lu,\"seconds\":%.6f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"first_error\":\"%s\",\"statuses\":{",
      o.mode.c_str(), o.async ? "true" : "false", o.clients, o.messages, run.message.size(), run.ok,
      run.errors, run.reconnects, seconds, percentile(run.latencies_us, 0.50),
      percentile(run.latencies_us, 0.99), percentile(run.latencies_us, 0.999),
      jsonEscape(run.first_error).c_str());
  bool first = true;
  for (auto& [k, v] : run.statuses) {
    std::printf("%s\"%d\":%lu", first ? "" : ",", k, v);
    first = false;
  }
  std::printf("}}\n");
  return run.ok == 0 ? 1 : 0;
}

int idle(const Options& o) {
  asio::io_context io;
  std::vector<local::socket> open;
  open.reserve(o.connections);
  for (unsigned i = 0; i < o.connections; ++i) {
    local::socket s(io);
    boost::system::error_code ec;
    s.connect(local::endpoint(o.socket_path), ec);
    if (ec) {
      std::fprintf(stderr, "sidecar-loadgen: connection %u: %s\n", i, ec.message().c_str());
      return 1;
    }
    open.push_back(std::move(s));
  }
  std::printf("open %zu\n", open.size());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.mode == "idle") return idle(o);
  if (o.mode == "http" || o.mode == "smtp") {
    if (o.mode == "http" && o.socket_path.empty()) usage("http needs --socket");
    return load(o);
  }
  usage("mode is http, smtp or idle");
}
