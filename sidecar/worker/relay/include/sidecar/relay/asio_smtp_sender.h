// asio_smtp_sender.h: the relay room's SMTP client: an AsyncSmtpSender of our own on the
// worker's Asio event loop (RFC 5321 with PIPELINING RFC 2920, CHUNKING RFC 3030,
// SIZE RFC 1870, 8BITMIME, SMTPUTF8, STARTTLS RFC 3207, AUTH RFC 4954).
//
// SECURITY: TLS through Boost.Asio's OpenSSL stream, required unless settings.tls is
// None (which config validation allows only with allow_insecure): the server's chain is
// verified against smtp.ca_file, its name (or IP address) against settings.host, SNI is
// sent for names, TLS 1.2 at least (makeSmtpTlsContext / prepareSmtpTls: the one place
// these options are set). STARTTLS: nothing the server sent before the handshake is
// kept (bytes after its 220 end the connection: CVE-2011-0411 class), capabilities are
// asked for again over TLS, and AUTH is never offered before TLS. The AUTH line is built
// in locked memory (relay/sasl.h) and written from there; server replies are untrusted
// and go through smtp_reply.h and relay/ehlo.h, with their limits. Nothing the client
// sends is logged.
// ERRORS: every failure ends the messages it concerns with a SendResult (outcome class,
// the server's reply, our detail); the event loop never blocks and nothing throws out of
// a handler.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "foundation/result.h"
#include "sidecar/base/config.h"
#include "sidecar/relay/smtp_probe_result.h"
#include "sidecar/relay/smtp_sender.h"

namespace boost::asio {
class io_context;
}

namespace sidecar::relay {

// The TLS client context for the SMTP server: peer verification on, settings.ca_file as
// the only trust anchors, TLS >= 1.2.
foundation::Result<std::shared_ptr<boost::asio::ssl::context>> makeSmtpTlsContext(
    const SmtpSettings& settings);

// Per connection, before the handshake: SNI (for a host name) and the name or address
// the certificate must carry. nullptr, or the OpenSSL call that failed.
const char* prepareSmtpTls(SSL* ssl, const std::string& host);

// Connections: at most max_connections to settings' server at once (all credentials
// together: the per-destination concurrency), each logged in with one credential and
// reused only for that credential, for at most settings.max_messages_per_connection
// messages and settings.idle_timeout of idleness. A connection that could not be set
// up delays the next attempt (100 ms doubling to 2 s).
std::unique_ptr<AsyncSmtpSender> makeAsioSmtpSender(boost::asio::io_context& io,
                                                    const SmtpSettings& settings,
                                                    std::size_t max_connections);

// ---- one session without mail, for `smtp-sidecar doctor` ----

// Connect, EHLO, STARTTLS / implicit TLS (verified as for sending), AUTH with
// `credential` (none: skipped), NOOP, QUIT, with the sender's own code. `done` runs on
// the io thread.
void probeSmtp(boost::asio::io_context& io, const SmtpSettings& settings,
               std::shared_ptr<const SmtpCredential> credential,
               std::function<void(SmtpProbeResult)> done);

}  // namespace sidecar::relay
