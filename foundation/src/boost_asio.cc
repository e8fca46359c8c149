// boost_asio.cc: Boost.Asio's implementation, compiled once for the whole project
// (BOOST_ASIO_SEPARATE_COMPILATION, set on the foundation_asio target for every user).
//
// Why: header-only Asio compiles its scheduler and epoll reactor into every file that
// uses it, under our warning set. At -O3 (release preset) gcc 12 then reports a
// "potential null pointer dereference" inside Asio's own scheduler
// (scheduler::compensating_work_started, reached from epoll_reactor::perform_io):
// a false positive in third-party code that -Werror turned into a failed build. Here
// that code is built once, as the third-party code it is, without our -Werror set;
// first-party files keep every warning and see only Asio's declarations.
//
// SECURITY: no project logic; Boost's own sources, unchanged.
// ERRORS: none here.
#include <boost/asio/impl/src.hpp>
