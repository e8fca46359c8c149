// sidecar_client.cc: POST /v1/messages over the Unix socket with Boost.Beast.
//
// SECURITY: the peer is whatever listens at the socket path; its answer is bounded
// (16 KiB of headers, 1 MiB of body) and the whole exchange by a deadline.
// ERRORS: TransportError values; Beast/Asio errors are error_codes, never exceptions
// (the endpoint path length is checked first so its constructor cannot throw).
#include "sendmail/sidecar_client.h"

#include <sys/un.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sendmail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 1 << 20;
constexpr auto kConnectTimeout = std::chrono::seconds(10);

TransportError connectError(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return {TransportFailure::Timeout, "connect timed out"};
  if (ec == asio::error::connection_refused) return {TransportFailure::Refused, ec.message()};
  if (ec == asio::error::access_denied || ec == asio::error::no_permission) {
    return {TransportFailure::PermissionDenied, ec.message()};
  }
  if (ec == beast::errc::no_such_file_or_directory || ec == beast::errc::not_a_directory) {
    return {TransportFailure::SocketMissing, ec.message()};
  }
  return {TransportFailure::Refused, ec.message()};
}

}  // namespace

std::variant<HttpAnswer, TransportError> postMessage(const std::string& socket_path,
                                                     const std::string& target, std::string message,
                                                     std::chrono::seconds timeout) {
  if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    return TransportError{
        TransportFailure::BadPath,
        "a socket path has 1 to " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes"};
  }
  asio::io_context io;
  beast::basic_stream<local> stream(io);

  beast::error_code connect_ec;
  stream.expires_after(std::min<std::chrono::seconds>(kConnectTimeout, timeout));
  stream.async_connect(local::endpoint(socket_path),
                       [&](beast::error_code ec) { connect_ec = ec; });
  io.run();
  if (connect_ec) return connectError(connect_ec);

  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "smtp-sidecar-sendmail");
  request.set(http::field::content_type, "message/rfc822");
  request.keep_alive(false);
  request.body() = std::move(message);
  request.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  beast::flat_buffer buffer;
  beast::error_code write_ec, read_ec;
  bool write_done = false, read_done = false;

  // Write and read at once: the sidecar may answer (413) before it read the body.
  io.restart();
  stream.expires_after(timeout);
  http::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
    write_ec = ec;
    write_done = true;
  });
  http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
    read_ec = ec;
    read_done = true;
    if (!write_done) stream.cancel();  // answered early: stop sending the rest
  });
  io.run();

  beast::error_code ignored;
  stream.socket().shutdown(local::socket::shutdown_both, ignored);
  if (!read_done || read_ec == beast::error::timeout) {
    return TransportError{TransportFailure::Timeout, "timed out"};
  }
  if (read_ec) {
    // Beast's HTTP errors other than a cut-off stream mean the peer is not the sidecar.
    const bool cut_off =
        read_ec == http::error::end_of_stream || read_ec == http::error::partial_message;
    if (!cut_off &&
        read_ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
      return TransportError{TransportFailure::BadAnswer, read_ec.message()};
    }
    const auto& ec = write_ec && write_ec != asio::error::operation_aborted ? write_ec : read_ec;
    return TransportError{TransportFailure::Broken, ec.message()};
  }
  auto response = parser.release();
  return HttpAnswer{response.result_int(), std::move(response.body())};
}

}  // namespace sendmail
