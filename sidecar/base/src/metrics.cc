// metrics.cc: the metric registry and its text exposition (see metrics.h).
//
// SECURITY: every label value and help text is escaped on output; nothing here reads
// input from outside the process.
// ERRORS: invalid names or bucket bounds are programming errors: abort with a message
// at registration (tests register every family the sidecar uses).
#include "sidecar/base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sidecar::metrics {
namespace {

[[noreturn]] void invalid(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "metrics: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::abort();
}

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += escapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;  // our own formatted number: nothing to escape
    out += '"';
  }
  out += '}';
}

void appendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& values, double value,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  appendLabels(out, label_names, values, extra_name, extra_value);
  out += ' ';
  out += formatValue(value);
  out += '\n';
}

const char* typeName(Type type) {
  switch (type) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

void checkBounds(const std::vector<double>& bounds, std::string_view name) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      invalid("histogram buckets must be finite and strictly increasing", name);
    }
  }
}

}  // namespace

std::string formatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers (counts, seconds) print without an exponent or fraction up to 2^53,
  // where a double stops holding every integer.
  if (value == std::trunc(value) && std::fabs(value) <= 9007199254740992.0) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return "NaN";  // cannot happen with 64 bytes
  return std::string(buffer, end);
}

namespace {

// The text format escapes backslash and newline in HELP text, and also the double quote
// in label values.
enum class Quote { Keep, Escape };
std::string escapeText(std::string_view text, Quote quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote == Quote::Escape) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
  return escapeText(value, Quote::Escape);
}
std::string escapeHelp(std::string_view help) {
  return escapeText(help, Quote::Keep);
}

bool validMetricName(std::string_view name) {
  if (name.empty() || !(isAlpha(name[0]) || name[0] == '_' || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return isAlpha(c) || isDigit(c) || c == '_' || c == ':'; });
}

bool validLabelName(std::string_view name) {
  if (name.empty() || !(isAlpha(name[0]) || name[0] == '_')) return false;
  if (name.substr(0, 2) == "__") return false;  // reserved for Prometheus itself
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return isAlpha(c) || isDigit(c) || c == '_'; });
}

std::vector<double> exponentialBuckets(double start, double factor, std::size_t count) {
  std::vector<double> bounds;
  double bound = start;
  for (std::size_t i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// ---- series ----

void Counter::inc(double by) noexcept {
  if (!(by >= 0)) return;  // negative or NaN
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  // The first bucket whose upper bound is >= value ("le"); +Inf past the last.
  const auto index = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[index];
  sum_ += value;
}

bool Histogram::merge(std::span<const std::uint64_t> per_bucket, double sum) {
  if (per_bucket.size() != counts_.size() || std::isnan(sum)) return false;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += per_bucket[i];
  sum_ += sum;
  return true;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::lock_guard lock(mutex_);
  s.cumulative.reserve(counts_.size());
  for (std::uint64_t c : counts_) {
    s.count += c;
    s.cumulative.push_back(s.count);
  }
  s.sum = sum_;
  return s;
}

// ---- families ----

template <typename Series>
std::unique_ptr<Series> Family<Series>::make() const {
  if constexpr (std::is_same_v<Series, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<Series>();
  }
}

template <typename Series>
Series& Family<Series>::with(const std::vector<std::string>& values) {
  if (values.size() != labels_.size()) invalid("wrong number of label values for", name_);
  std::lock_guard lock(mutex_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  if (series_.size() >= kMaxSeries) {
    dropped_.fetch_add(1);
    if (!overflow_) overflow_ = make();
    return *overflow_;
  }
  return *series_.emplace(values, make()).first->second;
}

template <typename Series>
Series& Family<Series>::with(std::initializer_list<std::string_view> values) {
  return with(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Series>
void Family<Series>::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += typeName(type_);
  out += '\n';
  std::lock_guard lock(mutex_);
  for (const auto& [values, series] : series_) {
    if constexpr (std::is_same_v<Series, Histogram>) {
      const auto s = series->snapshot();
      for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
        const std::string le = i < bounds_.size() ? formatValue(bounds_[i]) : "+Inf";
        appendSample(out, name_, "_bucket", labels_, values, static_cast<double>(s.cumulative[i]),
                     "le", le);
      }
      appendSample(out, name_, "_sum", labels_, values, s.sum);
      appendSample(out, name_, "_count", labels_, values, static_cast<double>(s.count));
    } else {
      appendSample(out, name_, "", labels_, values, series->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- registry ----

Registry::Entry& Registry::entry(std::string_view name, Type type,
                                 const std::vector<std::string>& labels,
                                 const std::vector<double>& bounds) {
  if (!validMetricName(name)) invalid("invalid metric name", name);
  for (const auto& label : labels) {
    if (!validLabelName(label) || (type == Type::Histogram && label == "le")) {
      invalid("invalid label name", label);
    }
  }
  if (type == Type::Histogram) checkBounds(bounds, name);
  for (auto& [existing, e] : families_) {
    if (existing != name) continue;
    const bool same =
        e.type == type &&
        (type == Type::Counter ? e.counter->labels_ == labels
         : type == Type::Gauge ? e.gauge->labels_ == labels
                               : e.histogram->labels_ == labels && e.histogram->bounds_ == bounds);
    if (!same) invalid("metric registered twice with another shape", name);
    return e;
  }
  families_.emplace_back(std::string(name), Entry{type, nullptr, nullptr, nullptr});
  return families_.back().second;
}

CounterFamily& Registry::counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  auto& e = entry(name, Type::Counter, labels, {});
  if (!e.counter) {
    e.counter.reset(new CounterFamily(std::string(name), std::string(help), Type::Counter,
                                      std::move(labels), {}));
  }
  return *e.counter;
}

GaugeFamily& Registry::gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  auto& e = entry(name, Type::Gauge, labels, {});
  if (!e.gauge) {
    e.gauge.reset(
        new GaugeFamily(std::string(name), std::string(help), Type::Gauge, std::move(labels), {}));
  }
  return *e.gauge;
}

HistogramFamily& Registry::histogram(std::string_view name, std::string_view help,
                                     std::vector<double> bounds, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  auto& e = entry(name, Type::Histogram, labels, bounds);
  if (!e.histogram) {
    e.histogram.reset(new HistogramFamily(std::string(name), std::string(help), Type::Histogram,
                                          std::move(labels), std::move(bounds)));
  }
  return *e.histogram;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, e] : families_) {
    switch (e.type) {
      case Type::Counter:
        e.counter->render(out);
        break;
      case Type::Gauge:
        e.gauge->render(out);
        break;
      case Type::Histogram:
        e.histogram->render(out);
        break;
    }
  }
  return out;
}

}  // namespace sidecar::metrics
