// boost_asio_ssl.cc: Boost.Asio's OpenSSL stream implementation, compiled once (with
// BOOST_ASIO_SEPARATE_COMPILATION, see boost_asio.cc, and for the same reason); the relay
// client (sidecar/worker/relay) uses it.
//
// SECURITY: no code of ours; OpenSSL from Debian does the TLS.
// ERRORS: none here.
#include <boost/asio/ssl/impl/src.hpp>
