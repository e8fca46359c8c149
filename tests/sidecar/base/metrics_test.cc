// metrics_test.cc: the metric registry and its Prometheus text exposition: values,
// escaping, names, histogram buckets, the exact rendered text, concurrent updates.
#include "sidecar/base/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

using namespace sidecar::metrics;

TEST_CASE("sample values are spelled as the text format wants") {
  struct Case {
    double value;
    const char* text;
  };
  const Case cases[] = {
      {0, "0"},
      {1, "1"},
      {-3, "-3"},
      {42, "42"},
      {0.5, "0.5"},
      {0.005, "0.005"},
      {2.5, "2.5"},
      {1e-9, "1e-09"},
      {123456789012, "123456789012"},
      {9007199254740992.0, "9007199254740992"},
      {1e300, "1e+300"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(formatValue(c.value) == c.text);
  }
}

TEST_CASE("label values and help text are escaped") {
  struct Case {
    const char* in;
    const char* label;
    const char* help;
  };
  const Case cases[] = {
      {"plain", "plain", "plain"},
      {"a\"b", "a\\\"b", "a\"b"},
      {"back\\slash", "back\\\\slash", "back\\\\slash"},
      {"line\nfeed", "line\\nfeed", "line\\nfeed"},
      {"tab\tand\rcr", "tab\tand\rcr", "tab\tand\rcr"},
      {"", "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(escapeLabelValue(c.in) == c.label);
    CHECK(escapeHelp(c.in) == c.help);
  }
}

TEST_CASE("metric and label names") {
  struct Case {
    const char* name;
    bool metric;
    bool label;
  };
  const Case cases[] = {
      {"smtp_sidecar_messages_total", true, true},
      {"a:b", true, false},
      {"_x", true, true},
      {"__reserved", true, false},
      {"9lives", false, false},
      {"", false, false},
      {"has-dash", false, false},
      {"has space", false, false},
      {"le", true, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(validMetricName(c.name) == c.metric);
    CHECK(validLabelName(c.name) == c.label);
  }
}

TEST_CASE("the exact exposition of counters, gauges and histograms") {
  Registry r;
  auto& messages =
      r.counter("smtp_sidecar_messages_total", "Messages by outcome.", {"outcome", "mode"});
  messages.with({"sent", "sync"}).inc();
  messages.with({"sent", "sync"}).inc(2);
  messages.with({"rejected", "async"}).inc();
  messages.with({"sent", "sync"}).inc(-5);  // ignored: counters only go up
  r.gauge("smtp_sidecar_queue_depth", "Messages accepted and not finished.").get().set(3);
  auto& latency = r.histogram("smtp_sidecar_send_duration_seconds", "Send time.", {0.1, 1, 10});
  latency.get().observe(0.05);
  latency.get().observe(0.1);  // on a bound: counted in that bucket ("le")
  latency.get().observe(5);
  latency.get().observe(100);
  auto& expiry =
      r.gauge("smtp_sidecar_credential_expiry_seconds", "Seconds left.\nPer path \\.", {"path"});
  expiry.with({"smtp/creds/\"odd\"\napp"}).set(1.5);
  r.counter("smtp_sidecar_unused_total", "Never labelled.", {"profile"});

  const std::string expected =
      "# HELP smtp_sidecar_messages_total Messages by outcome.\n"
      "# TYPE smtp_sidecar_messages_total counter\n"
      "smtp_sidecar_messages_total{outcome=\"rejected\",mode=\"async\"} 1\n"
      "smtp_sidecar_messages_total{outcome=\"sent\",mode=\"sync\"} 3\n"
      "# HELP smtp_sidecar_queue_depth Messages accepted and not finished.\n"
      "# TYPE smtp_sidecar_queue_depth gauge\n"
      "smtp_sidecar_queue_depth 3\n"
      "# HELP smtp_sidecar_send_duration_seconds Send time.\n"
      "# TYPE smtp_sidecar_send_duration_seconds histogram\n"
      "smtp_sidecar_send_duration_seconds_bucket{le=\"0.1\"} 2\n"
      "smtp_sidecar_send_duration_seconds_bucket{le=\"1\"} 2\n"
      "smtp_sidecar_send_duration_seconds_bucket{le=\"10\"} 3\n"
      "smtp_sidecar_send_duration_seconds_bucket{le=\"+Inf\"} 4\n"
      "smtp_sidecar_send_duration_seconds_sum 105.15\n"
      "smtp_sidecar_send_duration_seconds_count 4\n"
      "# HELP smtp_sidecar_credential_expiry_seconds Seconds left.\\nPer path \\\\.\n"
      "# TYPE smtp_sidecar_credential_expiry_seconds gauge\n"
      "smtp_sidecar_credential_expiry_seconds{path=\"smtp/creds/\\\"odd\\\"\\napp\"} 1.5\n"
      "# HELP smtp_sidecar_unused_total Never labelled.\n"
      "# TYPE smtp_sidecar_unused_total counter\n";
  CHECK(r.render() == expected);
}

TEST_CASE("a labelled histogram puts le last") {
  Registry r;
  auto& h = r.histogram("vault_request_duration_seconds", "Vault latency.", {0.5}, {"operation"});
  h.with({"login"}).observe(0.25);
  CHECK(r.render() ==
        "# HELP vault_request_duration_seconds Vault latency.\n"
        "# TYPE vault_request_duration_seconds histogram\n"
        "vault_request_duration_seconds_bucket{operation=\"login\",le=\"0.5\"} 1\n"
        "vault_request_duration_seconds_bucket{operation=\"login\",le=\"+Inf\"} 1\n"
        "vault_request_duration_seconds_sum{operation=\"login\"} 0.25\n"
        "vault_request_duration_seconds_count{operation=\"login\"} 1\n");
}

TEST_CASE("an empty registry renders nothing") {
  CHECK(Registry().render().empty());
}

TEST_CASE("registering a name again returns the same family") {
  Registry r;
  auto& a = r.counter("x_total", "X.", {"k"});
  auto& b = r.counter("x_total", "X again.", {"k"});
  CHECK(&a == &b);
  a.with({"v"}).inc();
  CHECK(b.with({"v"}).value() == 1);
}

TEST_CASE("histogram merge adds another process's counts") {
  Histogram h({1, 2});
  h.observe(0.5);
  const std::uint64_t other[] = {1, 0, 2};
  CHECK(h.merge(other, 7.5));
  const std::uint64_t wrong_shape[] = {1, 2};
  CHECK_FALSE(h.merge(wrong_shape, 1));
  const auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{2, 2, 4});
  CHECK(s.count == 4);
  CHECK(s.sum == doctest::Approx(8.0));
}

TEST_CASE("exponential buckets") {
  CHECK(exponentialBuckets(0.005, 2, 4) == std::vector<double>{0.005, 0.01, 0.02, 0.04});
}

TEST_CASE("series past the limit are dropped, not grown") {
  Registry r;
  auto& f = r.counter("many_total", "Many.", {"k"});
  for (std::size_t i = 0; i < kMaxSeries + 10; ++i) f.with({std::to_string(i)}).inc();
  CHECK(f.dropped() == 10);
  const auto text = r.render();
  CHECK(text.find("many_total{k=\"1023\"} 1") != std::string::npos);
  CHECK(text.find("many_total{k=\"1024\"}") == std::string::npos);
}

TEST_CASE("concurrent updates are all counted") {
  Registry r;
  auto& c = r.counter("c_total", "C.");
  auto& h = r.histogram("h_seconds", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.get().inc();
        h.get().observe(0.5);
        if (i % 1000 == 0) (void)r.render();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c.get().value() == 40000);
  CHECK(h.get().snapshot().count == 40000);
}
