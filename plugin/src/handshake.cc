// handshake.cc: the go-plugin start-up contract (see handshake.h).
//
// SECURITY: reads only the environment values passed in; the socket path is made of a
// trusted directory and random hex; the handshake line carries only the public
// certificate. Rule from go-plugin: stdout carries ONLY this line, flushed, printed
// after the listener exists; logs go to stderr as hclog JSON (log.h).
// ERRORS: Permanent, with a message for stderr; main() exits 1.
#include "plugin/handshake.h"

#include <sodium.h>
#include <sys/un.h>

#include <string>

namespace smtpplugin {

foundation::Status checkMagicCookie(const char* value) {
  if (value == nullptr || std::string_view(value) != kMagicCookieValue) {
    return foundation::Error::permanent(
        "This binary is a plugin. These are not meant to be executed directly. Please "
        "execute the program that consumes these plugins, which will load any plugins "
        "automatically");
  }
  return {};
}

foundation::Status checkProtocolVersions(const char* versions) {
  if (versions == nullptr || *versions == '\0') return {};
  std::string_view rest(versions);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "5") return {};
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return foundation::Error::permanent("the host offers plugin protocol versions '" +
                                      std::string(versions).substr(0, 64) +
                                      "'; this plugin speaks only version 5 (AutoMTLS)");
}

std::string base64RawStd(std::span<const unsigned char> bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.resize(std::char_traits<char>::length(out.c_str()));  // drop the NUL terminator
  return out;
}

std::string handshakeLine(std::string_view socket_path, std::span<const unsigned char> cert_der) {
  std::string line =
      std::to_string(kCoreProtocolVersion) + "|" + std::to_string(kAppProtocolVersion) + "|unix|";
  line.append(socket_path);
  line += "|grpc|";
  line += base64RawStd(cert_der);
  line += '\n';
  return line;
}

foundation::Result<std::string> makeSocketPath(const char* socket_dir, const char* tmpdir) {
  std::string dir = "/tmp";
  if (socket_dir != nullptr && *socket_dir != '\0') {
    dir = socket_dir;
  } else if (tmpdir != nullptr && *tmpdir != '\0') {
    dir = tmpdir;
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  unsigned char random[8];
  randombytes_buf(random, sizeof random);
  char hex[2 * sizeof random + 1];
  sodium_bin2hex(hex, sizeof hex, random, sizeof random);
  std::string path = dir + "/plugin" + hex;
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return foundation::Error::permanent("socket directory path too long for a unix socket: " +
                                        std::to_string(path.size()) + " bytes");
  }
  return path;
}

}  // namespace smtpplugin
