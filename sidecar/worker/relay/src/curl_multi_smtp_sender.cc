// curl_multi_smtp_sender.cc: AsyncSmtpSender on libcurl's multi socket interface and
// the asio event loop (see smtp_sender.h).
//
// One Pool per lease: a CURLM whose connection cache holds the SMTP connections
// authenticated with that lease's credential. Pools are keyed by lease id AND
// credential path (profiles with different paths never share a pool, even for
// secrets without a lease id), and libcurl never shares a cache between CURLMs. libcurl tells us
// which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call back (CURLMOPT_TIMERFUNCTION);
// asio watches the descriptors without owning them (released before libcurl closes them, through
// CURLOPT_CLOSESOCKETFUNCTION) and calls curl_multi_socket_action.
//
// Per message the path costs no more system calls than it must (bench/README.md has
// the before and after): a descriptor stays registered with the event loop while
// libcurl keeps its connection in the cache (not re-added for every message), and
// libcurl's timer is re-armed only when it must fire earlier than already armed
// ("now" is a posted handler, not a timer).
//
// SECURITY: see smtp_transfer.h. A queued send shares the caller's locked copy of the
// credential (no copy per message) and lets go of it once libcurl has its own (in
// zeroed-on-free memory).
// ERRORS: curl_multi_* failures end that transfer with a TemporaryFailure naming the
// call; nothing here throws past the event loop.
#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio.hpp>

#include "foundation/curl_global.h"
#include "foundation/curl_options.h"
#include "sidecar/base/log.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/relay/smtp_transfer.h"

namespace sidecar::relay {
namespace {

namespace asio = boost::asio;

SendResult failure(std::string detail) {
  SendResult r;
  r.outcome = SendOutcome::TemporaryFailure;
  r.detail = std::move(detail);
  return r;
}

struct Transfer {
  mailformat::Envelope envelope;
  std::shared_ptr<const std::string> message;
  std::shared_ptr<const SmtpCredential> credential;  // until libcurl has its own copy
  AsyncSmtpSender::Done done;
  SmtpTransfer curl;
  bool retried_fresh = false;
};

// What a pool hands a finished transfer back to.
class PoolOwner {
 public:
  virtual ~PoolOwner() = default;
  virtual void transferDone(const std::string& lease_id, std::shared_ptr<Transfer> transfer,
                            SendResult result) = 0;
};

class Pool {
 public:
  using Clock = asio::steady_timer::clock_type;

  Pool(asio::io_context& io, PoolOwner& owner, const SmtpSettings& settings, const std::string& url,
       std::string lease_id, long max_connections)
      : io_(io),
        owner_(owner),
        settings_(settings),
        url_(url),
        lease_id_(std::move(lease_id)),
        timer_(io),
        alive_(std::make_shared<bool>(true)) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return;
    const bool ok =
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Pool::onSocket) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, static_cast<void*>(this)) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Pool::onTimer) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, static_cast<void*>(this)) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_connections) == CURLM_OK;
    if (!ok) {
      curl_multi_cleanup(multi_);
      multi_ = nullptr;
    }
  }

  ~Pool() {
    closing_ = true;
    *alive_ = false;  // handlers already posted find the pool gone
    // Closes the cached connections (QUIT); their sockets come back through onSocket
    // (remove) and closeSocket while this object is still whole.
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    timer_.cancel();
    for (auto& [fd, watch] : watches_) (void)watch->descriptor.release();
  }

  bool usable() const { return multi_ != nullptr; }
  std::size_t running() const { return transfers_.size(); }

  void start(std::unique_ptr<Transfer> t) {
    const char* failed = t->curl.prepare(settings_, url_, t->envelope, *t->message, *t->credential);
    t->credential.reset();  // libcurl has its copy now (or there is nothing to send)
    if (failed == nullptr) {
      failed = foundation::CurlOptions(t->curl.easy())
                   .set(CURLOPT_CLOSESOCKETFUNCTION, &Pool::closeSocket, "CLOSESOCKETFUNCTION")
                   .set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this), "CLOSESOCKETDATA")
                   .failed();
    }
    if (failed != nullptr) {
      return complete(std::move(t), failure(std::string("libcurl refused option ") + failed));
    }
    CURL* easy = t->curl.easy();
    transfers_[easy] = std::move(t);
    if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
      auto node = transfers_.extract(easy);
      return complete(std::move(node.mapped()), failure("curl_multi_add_handle failed"));
    }
    // libcurl asks for a timeout of 0 through onTimer: the transfer starts from there.
  }

 private:
  struct Watch {
    Watch(asio::io_context& io, int fd, const struct stat& identity)
        : descriptor(io, fd), device(identity.st_dev), inode(identity.st_ino) {}
    asio::posix::stream_descriptor descriptor;
    // Which open file the registration is for: the descriptor number alone may be
    // closed behind our back and reused (see onSocket).
    dev_t device;
    ino_t inode;
    int wanted = 0;  // CURL_POLL_IN / OUT / INOUT
    bool reading = false;
    bool writing = false;
  };

  static int onSocket(CURL*, curl_socket_t fd, int what, void* self, void*) {
    auto* pool = static_cast<Pool*>(self);
    if (what == CURL_POLL_REMOVE) {
      // The transfer is over; the connection usually stays in libcurl's cache for the
      // next message, so the descriptor stays registered, unwatched (a wait still
      // pending ends without acting). It is forgotten when libcurl closes it.
      auto it = pool->watches_.find(fd);
      if (it != pool->watches_.end()) it->second->wanted = 0;
      return 0;
    }
    struct stat identity {};
    if (::fstat(fd, &identity) != 0) {
      log::error("smtp_socket_unknown",
                 {{"lease_id", pool->lease_id_}, {"fd", static_cast<int>(fd)}});
      return -1;  // libcurl fails the transfer
    }
    auto& watch = pool->watches_[fd];
    // libcurl closes some descriptors with plain close() rather than through
    // CLOSESOCKETFUNCTION: its threaded resolver's socketpair, watched while a host name
    // (not an address) resolves, as in a container. The kernel then drops the epoll
    // registration, and the connection's socket usually gets the same number: a
    // registration kept for that number would never report an event, and the transfer
    // would stall until its timeout (every first send in a container did, after
    // STARTTLS). So a registration for another open file is dropped and made anew.
    if (watch && (watch->device != identity.st_dev || watch->inode != identity.st_ino)) {
      watch->wanted = 0;
      (void)watch->descriptor.release();  // pending waits end with operation_aborted
      watch.reset();
    }
    if (!watch) watch = std::make_shared<Watch>(pool->io_, fd, identity);
    watch->wanted = what;
    pool->arm(fd, watch);
    return 0;
  }

  // libcurl's one timer. It changes several times per message (0 when a transfer is
  // added or moves on, its timeouts otherwise); re-arming an asio timer each time is a
  // timerfd_settime system call. So: 0 is a posted handler; a deadline later than
  // the one armed is only recorded (the armed timer fires early, finds it not yet due
  // and re-arms for it); only an earlier deadline re-arms. -1 (none) disarms nothing.
  static int onTimer(CURLM*, long timeout_ms, void* self) {
    auto* pool = static_cast<Pool*>(self);
    if (timeout_ms < 0) {
      pool->due_.reset();
      return 0;
    }
    if (timeout_ms == 0) {
      pool->due_.reset();
      if (!pool->timeout_posted_) {
        pool->timeout_posted_ = true;
        asio::post(pool->io_, [pool, alive = pool->alive_] {
          if (!*alive) return;
          pool->timeout_posted_ = false;
          pool->act(CURL_SOCKET_TIMEOUT, 0);
        });
      }
      return 0;
    }
    const auto due = Clock::now() + std::chrono::milliseconds(timeout_ms);
    pool->due_ = due;
    if (!pool->armed_ || due < *pool->armed_) pool->armTimer(due);
    return 0;
  }

  void armTimer(Clock::time_point at) {
    armed_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (ec || !*alive) return;  // re-armed earlier (or the pool is going)
      armed_.reset();
      if (!due_) return;  // libcurl no longer needs a timeout
      if (Clock::now() < *due_) return armTimer(*due_);
      due_.reset();
      act(CURL_SOCKET_TIMEOUT, 0);
    });
  }

  static int closeSocket(void* self, curl_socket_t fd) {
    static_cast<Pool*>(self)->forget(fd);
    return ::close(fd);
  }

  // Stops watching `fd` without closing it (libcurl owns it).
  void forget(curl_socket_t fd) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) return;
    it->second->wanted = 0;
    (void)it->second->descriptor.release();  // pending waits end with operation_aborted
    watches_.erase(it);
  }

  void arm(curl_socket_t fd, const std::shared_ptr<Watch>& watch) {
    using Wait = asio::posix::stream_descriptor::wait_type;
    auto wait = [this, fd](const std::shared_ptr<Watch>& w, Wait type, bool Watch::*pending,
                           int event) {
      (*w).*pending = true;
      std::weak_ptr<Watch> weak = w;
      w->descriptor.async_wait(type,
                               [this, fd, weak, pending, event](boost::system::error_code ec) {
                                 auto alive = weak.lock();
                                 if (!alive) return;  // forgotten meanwhile
                                 (*alive).*pending = false;
                                 // Not watched now (between messages on a cached connection):
                                 // libcurl looks at the connection itself when it reuses it.
                                 if (ec || alive->wanted == 0) return;
                                 act(fd, event);
                                 auto it = watches_.find(fd);
                                 if (it != watches_.end() && it->second == alive) arm(fd, alive);
                               });
    };
    if ((watch->wanted & CURL_POLL_IN) != 0 && !watch->reading) {
      wait(watch, Wait::wait_read, &Watch::reading, CURL_CSELECT_IN);
    }
    if ((watch->wanted & CURL_POLL_OUT) != 0 && !watch->writing) {
      wait(watch, Wait::wait_write, &Watch::writing, CURL_CSELECT_OUT);
    }
  }

  void act(curl_socket_t fd, int events) {
    if (closing_) return;
    int running = 0;
    if (curl_multi_socket_action(multi_, fd, events, &running) != CURLM_OK) {
      log::error("smtp_multi_socket_action_failed", {{"lease_id", lease_id_}});
    }
    collect();
  }

  void collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode rc = msg->data.result;
      auto node = transfers_.extract(easy);
      (void)curl_multi_remove_handle(multi_, easy);  // the connection stays cached
      if (node.empty()) continue;
      auto transfer = std::move(node.mapped());
      SendResult result = transfer->curl.finish(rc);
      // A session logged in before its login was deleted (lease revoked from outside)
      // goes on working: the server does not end it, but may refuse the sender. So a
      // failure on a reused connection is not trusted; the message is tried once more
      // on a new one, whose AUTH tells the truth.
      if (result.reused_connection && !transfer->retried_fresh &&
          (result.outcome == SendOutcome::Rejected ||
           result.outcome == SendOutcome::TemporaryFailure) &&
          transfer->curl.rewindOnFreshConnection()) {
        transfer->retried_fresh = true;
        transfers_[easy] = std::move(transfer);
        if (curl_multi_add_handle(multi_, easy) == CURLM_OK) continue;
        auto again = transfers_.extract(easy);
        complete(std::move(again.mapped()), std::move(result));
        continue;
      }
      complete(std::move(transfer), std::move(result));
    }
  }

  // Hands the result over from a fresh handler: the owner may start, retire or
  // destroy pools, which must not happen inside libcurl's or this pool's call stack
  // (and this pool may be gone by then: the handler names it by lease only).
  void complete(std::unique_ptr<Transfer> transfer, SendResult result) {
    asio::post(
        io_, [&owner = owner_, lease = lease_id_,
              t = std::shared_ptr<Transfer>(std::move(transfer)), r = std::move(result)]() mutable {
          owner.transferDone(lease, std::move(t), std::move(r));
        });
  }

  asio::io_context& io_;
  PoolOwner& owner_;
  const SmtpSettings& settings_;
  const std::string& url_;
  std::string lease_id_;
  asio::steady_timer timer_;
  std::optional<Clock::time_point> armed_;  // when timer_ fires
  std::optional<Clock::time_point> due_;    // when libcurl wants it to
  bool timeout_posted_ = false;
  std::shared_ptr<bool> alive_;  // false once the destructor ran
  CURLM* multi_ = nullptr;
  bool closing_ = false;
  std::map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
};

class CurlMultiSmtpSender final : public AsyncSmtpSender, public PoolOwner {
 public:
  CurlMultiSmtpSender(asio::io_context& io, SmtpSettings settings, std::size_t max_concurrent)
      : io_(io),
        settings_(std::move(settings)),
        url_(smtpUrl(settings_)),
        max_concurrent_(max_concurrent) {
    foundation::initCurlOrDie();
  }

  void send(mailformat::Envelope envelope, std::shared_ptr<const std::string> message,
            std::shared_ptr<const SmtpCredential> credential, Done done) override {
    auto t = std::make_unique<Transfer>();
    t->envelope = std::move(envelope);
    t->message = std::move(message);
    t->credential = std::move(credential);
    t->done = std::move(done);
    waiting_.push_back(std::move(t));
    pump();
  }

  void retire(const std::string& lease_id) override {
    const std::string prefix = lease_id + " ";
    for (auto it = pools_.begin(); it != pools_.end();) {
      it = it->first.compare(0, prefix.size(), prefix) == 0 ? retirePool(it) : std::next(it);
    }
  }

  std::size_t active() const override { return active_; }
  std::size_t waiting() const override { return waiting_.size(); }
  std::size_t pools() const override { return pools_.size() + draining_.size(); }

 private:
  static std::string poolKey(const SmtpCredential& c) {
    return c.lease_id + " " + c.credential_path;
  }

  using PoolMap = std::map<std::string, std::unique_ptr<Pool>>;
  PoolMap::iterator retirePool(PoolMap::iterator it) {
    const auto space = it->first.find(' ');  // poolKey(): "<lease id> <path>"
    log::info("smtp_connections_retired", {{"lease_id", it->first.substr(0, space)},
                                           {"path", it->first.substr(space + 1)},
                                           {"running", it->second->running()}});
    // Idle: closes its connections now; busy: once its transfers end.
    if (it->second->running() != 0) draining_.push_back(std::move(it->second));
    return pools_.erase(it);
  }

  void pump() {
    while (active_ < max_concurrent_ && !waiting_.empty()) {
      auto t = std::move(waiting_.front());
      waiting_.pop_front();
      const std::string key = poolKey(*t->credential);
      Pool* pool = poolFor(key);
      ++active_;
      if (pool == nullptr) {
        transferDone(key, std::move(t), failure("could not create an SMTP connection pool"));
        continue;
      }
      pool->start(std::move(t));
    }
  }

  Pool* poolFor(const std::string& key) {
    auto& pool = pools_[key];
    if (!pool) {
      pool = std::make_unique<Pool>(io_, *this, settings_, url_, key,
                                    static_cast<long>(max_concurrent_));
      if (!pool->usable()) {
        pools_.erase(key);
        return nullptr;
      }
    }
    return pool.get();
  }

  void transferDone(const std::string& key, std::shared_ptr<Transfer> t,
                    SendResult result) override {
    --active_;
    // A connection that failed is not kept by libcurl; a login the server refused
    // means the credential is gone: drop its pool so nothing reuses it.
    if (result.outcome == SendOutcome::AuthRefused) {
      if (auto it = pools_.find(key); it != pools_.end()) retirePool(it);
    }
    for (auto it = draining_.begin(); it != draining_.end();) {
      it = (*it)->running() == 0 ? draining_.erase(it) : std::next(it);
    }
    auto done = std::move(t->done);
    t.reset();
    done(std::move(result));
    pump();
  }

  asio::io_context& io_;
  SmtpSettings settings_;
  std::string url_;
  std::size_t max_concurrent_;
  std::size_t active_ = 0;
  std::deque<std::unique_ptr<Transfer>> waiting_;
  PoolMap pools_;  // by poolKey()
  std::vector<std::unique_ptr<Pool>> draining_;
};

}  // namespace

std::unique_ptr<AsyncSmtpSender> makeCurlMultiSmtpSender(asio::io_context& io,
                                                         const SmtpSettings& settings,
                                                         std::size_t max_concurrent) {
  return std::make_unique<CurlMultiSmtpSender>(io, settings, max_concurrent);
}

}  // namespace sidecar::relay
