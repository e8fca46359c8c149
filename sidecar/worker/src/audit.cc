// audit.cc: audit records as JSON lines (see audit.h).
//
// SECURITY: no secret ever reaches a Record; strings are escaped by RapidJSON.
// ERRORS: Status from open(); write failures are logged.
#include "sidecar/worker/audit.h"

#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "sidecar/base/log.h"

namespace sidecar::audit {

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                static_cast<int>(((ms.count() % 1000) + 1000) % 1000));
  return out;
}

std::string formatLine(const Record& r) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  str("event", "audit");  // tells audit lines from log lines when both go to stderr
  str("time", rfc3339(r.time));
  w.Key("uid");
  w.Uint(r.uid);
  w.Key("pid");
  w.Int(r.pid);
  str("profile", r.profile);
  str("id", r.id);
  str("sender", r.sender);
  w.Key("recipients");
  w.Uint64(r.recipients);
  w.Key("bytes");
  w.Uint64(r.bytes);
  str("message_id", r.message_id);
  str("outcome", r.outcome);
  w.Key("smtp_code");
  w.Int(r.smtp_code);
  str("smtp_text", r.smtp_text);
  str("lease_id", r.lease_id);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Log::~Log() {
  if (owned_) ::close(fd_);
}

foundation::Status Log::open(const std::string& path) {
  int fd = 2;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return foundation::Error::permanent("cannot open audit file " + path + ": " +
                                          std::strerror(errno));
    }
  }
  if (owned_) ::close(fd_);
  fd_ = fd;
  owned_ = !path.empty();
  return {};
}

void Log::write(const Record& record) {
  const std::string line = formatLine(record) + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::error("audit_write_failed", {{"error", std::strerror(errno)}});
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace sidecar::audit
