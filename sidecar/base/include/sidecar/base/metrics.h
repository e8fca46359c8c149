// metrics.h: counters, gauges and histograms with labels, rendered in the Prometheus
// text exposition format 0.0.4 (`GET /metrics`).
//
// SECURITY: what is rendered is read by anyone who can open the submission socket, so
// label values are only ever names the sidecar chooses (outcomes, operations, profile
// names and credential paths from its own configuration), never message content,
// addresses, lease ids or secrets. Label values and help text are escaped as the
// format requires, so no value can forge a line. Each family holds at most
// kMaxSeries label sets: a label set past that is counted in nothing (and in
// `dropped()`), so a bug cannot grow memory without bound.
// ERRORS: metric and label names are constants in the code; an invalid one, or a
// family registered twice with another shape, is a programming error and aborts at
// registration (the unit tests register every family the sidecar uses).
// THREADS: every update and render may run on any thread at once (the worker's
// senders update while the HTTP handler renders).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::size_t kMaxSeries = 1024;

// The exposition format's spelling of a sample value: integers without a fraction,
// "+Inf", "-Inf", "NaN", otherwise the shortest text that reads back to the same double.
std::string formatValue(double value);
// Label value escaping: backslash, double quote and line feed.
std::string escapeLabelValue(std::string_view value);
// HELP text escaping: backslash and line feed.
std::string escapeHelp(std::string_view help);
bool validMetricName(std::string_view name);
bool validLabelName(std::string_view name);

class Counter {
 public:
  // Negative or NaN increments are ignored: a counter only goes up.
  void inc(double by = 1.0) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double by) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing, without +Inf.
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Adds counts that another process observed with the same bounds: one count per
  // bucket (not cumulative), the +Inf bucket last (bounds().size() + 1 in all).
  // False, and nothing added, if the shape differs.
  bool merge(std::span<const std::uint64_t> per_bucket, double sum);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mutex_;           // sum, count and buckets change together
  std::vector<std::uint64_t> counts_;  // per bucket, +Inf last
  double sum_ = 0;
};

enum class Type { Counter, Gauge, Histogram };

// One metric name with its help, type and label names; one series per label set.
template <typename Series>
class Family {
 public:
  // The series for these label values (as many as label names), created on first use.
  // The reference stays valid for the registry's lifetime. Past kMaxSeries, a shared
  // series that is never rendered.
  Series& with(std::initializer_list<std::string_view> values);
  Series& with(const std::vector<std::string>& values);
  // The series of a family without labels.
  Series& get() { return with({}); }
  std::size_t dropped() const noexcept { return dropped_.load(); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}
  std::unique_ptr<Series> make() const;
  void render(std::string& out) const;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
  std::unique_ptr<Series> overflow_;
  std::atomic<std::size_t> dropped_{0};
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Families in registration order. Registering a name again returns the same family
// when its type, labels and buckets match (and aborts when they do not).
class Registry {
 public:
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> labels = {});
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> labels = {});
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<double> bounds, std::vector<std::string> labels = {});

  // The whole exposition: for each family "# HELP", "# TYPE" and its samples, series
  // in label-value order. Ends with a line feed (or is empty).
  std::string render() const;

 private:
  struct Entry {
    Type type;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Entry& entry(std::string_view name, Type type, const std::vector<std::string>& labels,
               const std::vector<double>& bounds);
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Entry>> families_;
};

// Bucket bounds: `count` bounds from `start`, each `factor` times the one before.
std::vector<double> exponentialBuckets(double start, double factor, std::size_t count);

}  // namespace sidecar::metrics
