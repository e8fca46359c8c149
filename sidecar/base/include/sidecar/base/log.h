// log.h: structured logging, one JSON object per line on stderr.
//
// SECURITY: fields are plain strings and numbers. foundation::SecretBytes has no conversion
// to either, so a secret cannot be passed here by accident; callers log lease ids,
// paths, codes and sizes, never credentials or message content.
// ERRORS: none; a failed write to stderr is ignored (there is nowhere else to report).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace sidecar::log {

enum class Level { Debug, Info, Warn, Error };

struct Field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, bool> value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
};

void setMinimumLevel(Level level);
void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

// The JSON line write() would print (without newline), for tests.
std::string format(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::Debug, e, f);
}
inline void info(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::Info, e, f);
}
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::Warn, e, f);
}
inline void error(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::Error, e, f);
}

}  // namespace sidecar::log
