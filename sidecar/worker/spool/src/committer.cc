// committer.cc: batched durable writes (see committer.h).
//
// SECURITY: names are the caller's own (message ids checked by validId); temporary
// names carry 64 random bits, so a planted file cannot be opened in their place
// (O_EXCL|O_NOFOLLOW). Every file's data is fdatasync'ed before its rename, as in the
// one-file recipe: batching changes when the syncs happen, not what is synced.
// ERRORS: every C call is checked; errno names the failure (never a file's content).
#include "sidecar/spool/committer.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "durable_io.h"

namespace sidecar::spool {
namespace {

using foundation::Error;
using foundation::Status;

using detail::Fd;
using detail::ioError;
using detail::kTempPrefix;
using detail::syncDirectory;

std::string tempName(const FileOp& op) {
  unsigned char raw[8];
  randombytes_buf(raw, sizeof raw);
  char suffix[17];
  sodium_bin2hex(suffix, sizeof suffix, raw, sizeof raw);
  return op.dir + "/" + std::string(kTempPrefix) + op.name + "-" + suffix;
}

// Creates and writes the temporary file; fsyncs it when `fsync_file`, else starts its
// write-back (the batch's fdatasync round follows). The descriptor stays open for it.
Status writeTemp(const std::string& temp, std::string_view bytes, bool fsync_file,
                 bool start_writeback, CommitterStats& stats, std::unique_ptr<Fd>& out) {
  auto fd = std::make_unique<Fd>(
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd->get() < 0) return ioError("create " + temp, errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd->get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ioError("write " + temp, errno);
    done += static_cast<std::size_t>(n);
  }
  if (fsync_file) {
    ++stats.data_syncs;
    if (::fsync(fd->get()) != 0) return ioError("fsync " + temp, errno);
  }
  // Every file of the batch goes to the disk together (block allocation and all), so
  // the first fdatasync's journal commit carries them all and the others find their
  // data written: one commit per batch, and only our own files are flushed (syncfs
  // would flush every dirty page of a filesystem the spool may share with others).
  if (start_writeback && !bytes.empty() &&
      ::sync_file_range(fd->get(), 0, 0, SYNC_FILE_RANGE_WRITE) != 0) {
    return ioError("sync_file_range " + temp, errno);
  }
  out = std::move(fd);
  return {};
}

struct JobState {
  Status status;
  std::vector<std::string> temps;        // per op: the temporary path of a Write, else empty
  std::vector<std::unique_ptr<Fd>> fds;  // per op: a Write's open file until its sync
  std::set<std::string> renamed_in;
  std::set<std::string> removed_in;
  bool failed() const { return !status; }
};

void dropTemps(JobState& state) {
  state.fds.clear();
  for (auto& temp : state.temps) {
    if (!temp.empty()) ::unlink(temp.c_str());  // best effort: Store::open removes leftovers
    temp.clear();
  }
}

void fail(JobState& state, foundation::Error error) {
  if (!state.failed()) state.status = std::move(error);
  dropTemps(state);
}

// Every job that touched `dir` in `which` fails with `error`.
void failIn(std::vector<JobState>& states, const std::string& dir,
            std::set<std::string> JobState::*which, const foundation::Error& error) {
  for (auto& state : states) {
    if (!state.failed() && (state.*which).count(dir) != 0) fail(state, error);
  }
}

}  // namespace

std::vector<Status> runBatchOps(std::vector<FileJob>& jobs, Sync sync, CommitterStats& stats) {
  const bool per_file = sync == Sync::PerFile;
  const bool batched = sync == Sync::Batched;
  std::vector<JobState> states(jobs.size());
  // 1. Every file's bytes, under a temporary name, on their way to the disk.
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    states[j].temps.resize(jobs[j].ops.size());
    states[j].fds.resize(jobs[j].ops.size());
    for (std::size_t i = 0; i < jobs[j].ops.size() && !states[j].failed(); ++i) {
      const FileOp& op = jobs[j].ops[i];
      if (op.kind != FileOp::Kind::Write) continue;
      states[j].temps[i] = tempName(op);
      if (auto s =
              writeTemp(states[j].temps[i], op.bytes, per_file, batched, stats, states[j].fds[i]);
          !s) {
        fail(states[j], s.error());
        break;
      }
    }
  }
  // 2. Their data durable: the fdatasync round (one journal commit for the batch),
  // then each file closed (close reports write-back errors on some filesystems).
  for (auto& state : states) {
    for (std::size_t i = 0; i < state.fds.size() && !state.failed(); ++i) {
      if (!state.fds[i]) continue;
      if (batched) {
        ++stats.data_syncs;
        if (::fdatasync(state.fds[i]->get()) != 0) {
          fail(state, ioError("fdatasync " + state.temps[i], errno));
          break;
        }
      }
      if (state.fds[i]->close() != 0) {
        fail(state, ioError("close " + state.temps[i], errno));
        break;
      }
      state.fds[i].reset();
    }
  }
  // 3. The renames, then the directories that hold them.
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    for (std::size_t i = 0; i < jobs[j].ops.size() && !states[j].failed(); ++i) {
      const FileOp& op = jobs[j].ops[i];
      if (op.kind != FileOp::Kind::Write) continue;
      const std::string final_path = op.dir + "/" + op.name;
      if (::rename(states[j].temps[i].c_str(), final_path.c_str()) != 0) {
        fail(states[j], ioError("rename " + states[j].temps[i], errno));
        break;
      }
      states[j].temps[i].clear();
      states[j].renamed_in.insert(op.dir);
      if (per_file) {
        if (auto s = syncDirectory(op.dir); !s) fail(states[j], s.error());
      }
    }
  }
  auto syncTouched = [&](std::set<std::string> JobState::*which) {
    std::set<std::string> dirs;
    for (const auto& state : states) {
      if (!state.failed()) dirs.insert((state.*which).begin(), (state.*which).end());
    }
    for (const auto& dir : dirs) {
      if (auto s = syncDirectory(dir); !s) failIn(states, dir, which, s.error());
    }
  };
  if (batched) syncTouched(&JobState::renamed_in);
  // 4. The removals (after what replaces them is durable), then their directories.
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    for (const FileOp& op : jobs[j].ops) {
      if (states[j].failed()) break;
      if (op.kind != FileOp::Kind::Remove) continue;
      const std::string path = op.dir + "/" + op.name;
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        fail(states[j], ioError("unlink " + path, errno));
        break;
      }
      states[j].removed_in.insert(op.dir);
      if (per_file) {
        if (auto s = syncDirectory(op.dir); !s) fail(states[j], s.error());
      }
    }
  }
  if (batched) syncTouched(&JobState::removed_in);
  ++stats.batches;
  stats.jobs += jobs.size();
  stats.largest_batch = std::max<std::uint64_t>(stats.largest_batch, jobs.size());
  std::vector<Status> out;
  out.reserve(states.size());
  for (auto& state : states) out.push_back(std::move(state.status));
  return out;
}

void runBatch(std::vector<FileJob>& jobs, Sync sync, CommitterStats& stats) {
  auto statuses = runBatchOps(jobs, sync, stats);
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    if (jobs[j].done) jobs[j].done(std::move(statuses[j]));
  }
}

Committer::Committer(Sync sync, std::size_t max_batch_bytes)
    : sync_(sync), max_batch_bytes_(max_batch_bytes), thread_([this] { run(); }) {}

Committer::~Committer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Committer::submit(FileJob job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

CommitterStats Committer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Committer::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to write
    // Everything that arrived while the last batch was on disk, bounded in bytes.
    std::vector<FileJob> batch;
    std::size_t bytes = 0;
    while (!queue_.empty() && (batch.empty() || bytes < max_batch_bytes_)) {
      for (const auto& op : queue_.front().ops) bytes += op.bytes.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    CommitterStats stats = stats_;
    lock.unlock();
    auto statuses = runBatchOps(batch, sync_, stats);
    lock.lock();
    stats_ = stats;  // before the answers: whoever was answered sees its batch counted
    lock.unlock();
    for (std::size_t j = 0; j < batch.size(); ++j) {
      if (batch[j].done) batch[j].done(std::move(statuses[j]));
    }
    lock.lock();
  }
}

}  // namespace sidecar::spool
