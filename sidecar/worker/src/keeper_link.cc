// keeper_link.cc: see keeper_link.h.
//
// SECURITY: every keeper message goes through ipc.h's decoders; unknown or malformed
// ones are fatal. Credentials are compared in constant time (sodium_memcmp).
// ERRORS: requests fail with nullptr / nullopt; protocol errors end the process.
#include "sidecar/worker/keeper_link.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace sidecar::worker {

void KeeperLink::connect(int fd) {
  disconnect();
  channel_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  if (ipc::encodeHello(out_)) (void)ipc::sendPacket(fd, out_);
  waitForMessage();
  if (on_connected_) on_connected_();
}

void KeeperLink::requestSpoolKey(const std::string& wrapped, SpoolKeyCallback callback) {
  if (!channel_ || spool_key_callback_) return callback(std::nullopt);
  const std::uint32_t id = next_request_id_++;
  if (!ipc::encodeSpoolKeyRequest(id, wrapped, out_) ||
      !ipc::sendPacket(channel_->native_handle(), out_)) {
    return callback(std::nullopt);
  }
  spool_key_request_ = id;
  spool_key_deadline_ = std::chrono::steady_clock::now() + kSpoolKeyTimeout;
  spool_key_callback_ = std::move(callback);
}

void KeeperLink::answerSpoolKey(std::optional<SpoolKey> key) {
  auto callback = std::move(spool_key_callback_);
  spool_key_callback_ = nullptr;
  callback(std::move(key));
}

void KeeperLink::requestCredential(std::uint32_t path_index, std::string path,
                                   CredentialCallback callback) {
  if (!channel_) return callback(nullptr);
  if (auto held = held_.find(path);
      held != held_.end() && held->second.credential &&
      std::chrono::steady_clock::now() - held->second.named < credential_reuse_) {
    return callback(held->second.credential);
  }
  if (auto joined = in_flight_.find(path); joined != in_flight_.end()) {
    auto it = pending_.find(joined->second);
    if (it != pending_.end()) {
      it->second.callbacks.push_back(std::move(callback));
      return;
    }
  }
  const std::uint32_t id = next_request_id_++;
  if (!ipc::encodeCredentialRequest(id, path_index, out_) ||
      !ipc::sendPacket(channel_->native_handle(), out_)) {
    return callback(nullptr);
  }
  Pending pending{{}, path, std::chrono::steady_clock::now() + kCredentialTimeout};
  pending.callbacks.push_back(std::move(callback));
  pending_.emplace(id, std::move(pending));
  in_flight_[std::move(path)] = id;
}

void KeeperLink::requestMetrics(MetricsCallback callback) {
  // Scrapes are cheap for the keeper, but a client opening many at once while the
  // keeper is slow must not pile up requests: past kMaxPendingMetrics, no figures.
  if (!channel_ || pending_metrics_.size() >= kMaxPendingMetrics) return callback(std::nullopt);
  const std::uint32_t id = next_request_id_++;
  if (!ipc::encodeMetricsRequest(id, out_) || !ipc::sendPacket(channel_->native_handle(), out_)) {
    return callback(std::nullopt);
  }
  pending_metrics_.emplace(
      id, PendingMetrics{std::move(callback), std::chrono::steady_clock::now() + kMetricsTimeout});
}

void KeeperLink::reportRefused(const std::string& lease_id) {
  dropHeld(lease_id);  // the retry that follows must ask the keeper
  if (channel_ && ipc::encodeLease(ipc::MessageType::CredentialRefused, {lease_id}, out_)) {
    (void)ipc::sendPacket(channel_->native_handle(), out_);
  }
}

void KeeperLink::answer(Pending& pending, const Credential& credential) {
  for (auto& callback : pending.callbacks) callback(credential);
}

void KeeperLink::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    auto pending = std::move(it->second);
    forgetInFlight(pending.path, it->first);
    it = pending_.erase(it);
    log::warn("credential_request_timeout");
    answer(pending, nullptr);
  }
  for (auto it = pending_metrics_.begin(); it != pending_metrics_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    auto callback = std::move(it->second.callback);
    it = pending_metrics_.erase(it);
    log::warn("metrics_request_timeout");
    callback(std::nullopt);
  }
  if (spool_key_callback_ && spool_key_deadline_ <= now) {
    log::warn("spool_key_request_timeout");
    answerSpoolKey(std::nullopt);
  }
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void KeeperLink::waitForMessage() {
  channel_->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, channel = channel_.get()](boost::system::error_code ec) {
                         if (ec || channel != channel_.get()) return;
                         onReadable();
                       });
}

void KeeperLink::onReadable() {
  int fd = -1;
  if (!ipc::receivePacket(channel_->native_handle(), in_, fd)) {
    if (errno == EAGAIN) return waitForMessage();
    log::warn("keeper_link_closed");
    return disconnect();
  }
  if (fd >= 0) {
    ::close(fd);
    fatal("the keeper sent a file descriptor");
  }
  const bool ok = dispatch(in_.view());
  in_.wipe();  // a credential message: its bytes now live only in the held copy
  if (!ok) fatal("malformed keeper message");
  waitForMessage();
}

bool KeeperLink::dispatch(std::string_view wire) {
  ipc::Reader r(wire);
  if (!r.header()) return false;
  switch (r.type()) {
    case ipc::MessageType::Hello:
      return ipc::decodeHello(r);
    case ipc::MessageType::Status: {
      ipc::StatusMessage status;
      if (!ipc::decodeStatus(r, status)) return false;
      keeper_ready_ = status.ready;
      keeper_reason_ = std::move(status.reason);
      if (!keeper_ready_) held_.clear();  // whatever it held may no longer log in
      // At most ten years: a credential that never expires must not overflow the clock.
      valid_until_ = std::chrono::steady_clock::now() +
                     std::chrono::seconds(std::min<std::uint64_t>(status.valid_seconds, 315360000));
      return true;
    }
    case ipc::MessageType::Credential: {
      // Read in place: the credential is copied into new locked memory only when it
      // differs from the one held for its path (a new lease), not for every send.
      ipc::CredentialView m;
      if (!ipc::decodeCredentialView(r, m)) return false;
      auto it = pending_.find(r.requestId());
      if (it == pending_.end()) return true;  // timed out already
      // Worker and keeper reload the config on their own: if the index named another
      // path on the keeper's side, this credential is not the profile's. Never use it.
      if (it->second.path != m.credential_path) {
        log::warn("credential_path_mismatch",
                  {{"expected", it->second.path}, {"got", m.credential_path}});
        complete(r.requestId(), nullptr);
        return true;
      }
      Held& held = held_[m.credential_path];
      if (!holds(held, m)) {
        held.credential = std::make_shared<const ipc::SmtpCredential>(ipc::SmtpCredential{
            foundation::SecretBytes::copyOf(m.username),
            foundation::SecretBytes::copyOf(m.password), m.lease_id, m.credential_path, m.kind});
        held.generation = m.generation;
      }
      held.named = std::chrono::steady_clock::now();
      complete(r.requestId(), held.credential);
      return true;
    }
    case ipc::MessageType::NoCredential: {
      if (!ipc::decodeNoCredential(r)) return false;
      if (spool_key_callback_ && r.requestId() == spool_key_request_) {
        log::warn("spool_key_refused");  // the keeper logged why (spool_key_unavailable)
        answerSpoolKey(std::nullopt);
        return true;
      }
      complete(r.requestId(), nullptr);
      return true;
    }
    case ipc::MessageType::SpoolKey: {
      SpoolKey key;
      if (!ipc::decodeSpoolKey(r, key.wrapped, key.key)) return false;
      if (spool_key_callback_ && r.requestId() == spool_key_request_) {
        answerSpoolKey(std::move(key));
      }
      return true;
    }
    case ipc::MessageType::SpoolKeyLost: {
      SpoolKey lost;
      if (!ipc::decodeSpoolKeyLost(r, lost.lost)) return false;
      if (spool_key_callback_ && r.requestId() == spool_key_request_) {
        answerSpoolKey(std::move(lost));
      }
      return true;
    }
    case ipc::MessageType::Metrics: {
      telemetry::KeeperFigures figures;
      if (!ipc::decodeMetrics(r, figures)) return false;
      auto it = pending_metrics_.find(r.requestId());
      if (it == pending_metrics_.end()) return true;  // timed out already
      auto callback = std::move(it->second.callback);
      pending_metrics_.erase(it);
      callback(std::move(figures));
      return true;
    }
    case ipc::MessageType::CredentialRetired: {
      ipc::LeaseMessage m;
      if (!ipc::decodeLease(r, m)) return false;
      // Its lease is revoked: close the SMTP connections logged in with it (after
      // the sends still running on them), and let go of the copy held.
      log::info("credential_retired", {{"lease_id", m.lease_id}});
      dropHeld(m.lease_id);
      if (on_retired_) on_retired_(m.lease_id);
      return true;
    }
    default:
      return false;
  }
}

bool KeeperLink::holds(const Held& held, const ipc::CredentialView& m) {
  return held.credential && held.credential->lease_id == m.lease_id &&
         held.generation == m.generation && held.credential->kind == m.kind &&
         held.credential->username.equals(m.username) &&
         held.credential->password.equals(m.password);
}

void KeeperLink::dropHeld(const std::string& lease_id) {
  std::erase_if(held_, [&](const auto& entry) {
    return entry.second.credential && entry.second.credential->lease_id == lease_id;
  });
}

void KeeperLink::forgetInFlight(const std::string& path, std::uint32_t id) {
  auto it = in_flight_.find(path);
  if (it != in_flight_.end() && it->second == id) in_flight_.erase(it);
}

void KeeperLink::complete(std::uint32_t id, const Credential& credential) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // timed out already
  auto pending = std::move(it->second);
  pending_.erase(it);
  forgetInFlight(pending.path, id);
  answer(pending, credential);
}

void KeeperLink::disconnect() {
  keeper_ready_ = false;
  held_.clear();  // a restarted keeper leases anew
  if (channel_) {
    boost::system::error_code ignored;
    channel_->close(ignored);
    channel_.reset();
  }
  auto pending = std::move(pending_);
  pending_.clear();
  in_flight_.clear();
  for (auto& [id, p] : pending) answer(p, nullptr);
  auto pending_metrics = std::move(pending_metrics_);
  pending_metrics_.clear();
  for (auto& [id, p] : pending_metrics) p.callback(std::nullopt);
  if (spool_key_callback_) answerSpoolKey(std::nullopt);
}

}  // namespace sidecar::worker
