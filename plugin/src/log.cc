// log.cc: hclog-style JSON lines on stderr (see log.h).
//
// SECURITY: values are JSON-escaped by RapidJSON's writer; callers never pass secrets.
// ERRORS: write(2) failures are ignored: stderr is the only place to report them.
#include "plugin/log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace smtpplugin {
namespace {

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return "trace";
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

rapidjson::SizeType jsonSize(std::size_t n) {
  return static_cast<rapidjson::SizeType>(n);
}

}  // namespace

std::string formatLogLine(LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields,
                          std::chrono::system_clock::time_point now) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  char stamp[48] = "1970-01-01T00:00:00.000000Z";
  if (gmtime_r(&secs, &tm) != nullptr) {
    char base[32];
    if (std::strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) > 0) {
      char full[48];
      const int n = std::snprintf(full, sizeof full, "%s.%06lldZ", base,
                                  static_cast<long long>(micros % 1'000'000));
      if (n > 0 && static_cast<std::size_t>(n) < sizeof full)
        std::memcpy(stamp, full, sizeof stamp);
    }
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("@level");
  writer.String(levelName(level));
  writer.Key("@message");
  writer.String(message.data(), jsonSize(message.size()));
  writer.Key("@module");
  writer.String("smtp-plugin");
  writer.Key("@timestamp");
  writer.String(stamp);
  for (const auto& [key, value] : fields) {
    writer.Key(key.data(), jsonSize(key.size()));
    writer.String(value.data(), jsonSize(value.size()));
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  std::string line = formatLogLine(level, message, fields, std::chrono::system_clock::now());
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace smtpplugin
