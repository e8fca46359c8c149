// log.cc: JSON-lines logger (see log.h).
//
// SECURITY: escapes every string so that log lines cannot be forged by values that
// contain quotes or newlines (SMTP replies and addresses come from outside).
// ERRORS: none.
#include "sidecar/base/log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace sidecar::log {
namespace {

std::atomic<Level> g_minimum{Level::Info};

const char* levelName(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "?";
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, static_cast<int>(millis));
  return out;
}

}  // namespace

void setMinimumLevel(Level level) {
  g_minimum.store(level);
}

std::string format(Level level, std::string_view event, std::initializer_list<Field> fields) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const std::string ts = timestamp();
  w.StartObject();
  w.Key("ts");
  w.String(ts.data(), static_cast<rapidjson::SizeType>(ts.size()));
  w.Key("level");
  w.String(levelName(level));
  w.Key("event");
  w.String(event.data(), static_cast<rapidjson::SizeType>(event.size()));
  for (const auto& f : fields) {
    w.Key(f.key.data(), static_cast<rapidjson::SizeType>(f.key.size()));
    if (const auto* s = std::get_if<std::string_view>(&f.value)) {
      w.String(s->data(), static_cast<rapidjson::SizeType>(s->size()));
    } else if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
      w.Int64(*i);
    } else {
      w.Bool(std::get<bool>(f.value));
    }
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (level < g_minimum.load()) return;
  std::string line = format(level, event, fields);
  line.push_back('\n');
  // One write(2) per line keeps lines whole when several threads log.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace sidecar::log
