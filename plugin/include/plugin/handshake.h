// handshake.h: the go-plugin start-up contract, as pure functions: the magic-cookie and
// protocol-version checks, the unix socket path, and the one handshake line on stdout.
//
// SECURITY: the inputs are environment variables set by the Vault/OpenBao host, which
// starts us; they are still checked (a wrong cookie means the host is probing for a
// different plugin kind, §6.3 of docs/PLUGIN.md). The handshake line carries only the
// public certificate. stdout carries ONLY this line; every log goes to stderr (log.h).
// ERRORS: Permanent errors with a message for stderr; the caller exits with status 1.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "foundation/result.h"

namespace smtpplugin {

inline constexpr const char* kMagicCookieKey = "VAULT_BACKEND_PLUGIN";
inline constexpr std::string_view kMagicCookieValue = "6669da05-b1c8-4f49-97d9-c8e5bed98e20";
inline constexpr int kCoreProtocolVersion = 1;
inline constexpr int kAppProtocolVersion = 5;

// `value` is getenv(kMagicCookieKey) (may be null).
foundation::Status checkMagicCookie(const char* value);

// `versions` is getenv("PLUGIN_PROTOCOL_VERSIONS") (may be null: then 5 is assumed).
// Fails unless the comma-separated list contains 5.
foundation::Status checkProtocolVersions(const char* versions);

// Standard base64 alphabet without '=' padding (Go's base64.RawStdEncoding).
std::string base64RawStd(std::span<const unsigned char> bytes);

// "1|5|unix|<path>|grpc|<base64 DER>\n".
std::string handshakeLine(std::string_view socket_path, std::span<const unsigned char> cert_der);

// A fresh, unused socket path "<dir>/plugin<random>" in PLUGIN_UNIX_SOCKET_DIR, else
// TMPDIR, else /tmp (the arguments are those variables, each may be null or empty).
// Fails if the path would not fit in sockaddr_un.
foundation::Result<std::string> makeSocketPath(const char* socket_dir, const char* tmpdir);

}  // namespace smtpplugin
