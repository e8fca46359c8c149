// committer.h: group commit for the spool: durable file writes and removals done in
// batches on a thread of their own, so the worker's event loop never waits for a disk.
//
// SECURITY: the bytes handed in are sealed files (format.h): ciphertext only. Files
// are created O_EXCL|O_NOFOLLOW 0600 under a temporary dot-name in their final
// directory; a file counts as written only once its data, its rename and its
// directory are durable, so a crash at any point leaves either the whole file or
// only a temporary one, which Store::open removes (it was never acknowledged).
// ERRORS: each Job gets its own Status: Temporary for I/O errors (ENOSPC/EDQUOT say
// "spool disk full"). A failed data sync fails every write of its batch; a failed
// directory sync fails every job that renamed or removed in that directory.
//
// The batch, in Sync::Batched mode (the default): every job queued while the
// previous batch was on disk is taken at once; all its files are written and their
// write-back started together (sync_file_range), then an fdatasync round makes their
// data durable (the first one's journal commit carries the whole batch; the others
// find their data written), then every rename, then ONE fsync per directory, then the
// removals (a finished message's file goes only after its final status is durable),
// then one fsync per directory again. So a batch costs about one journal commit and
// one directory commit however many messages it holds, and flushes only its own files
// (syncfs() would flush every dirty page of a filesystem the spool may share). Sync::PerFile is the
// classic recipe per file (fsync file, rename, fsync directory), kept to measure against;
// Sync::None skips every sync (benchmarks only: a crash may lose acknowledged messages).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "foundation/result.h"

namespace sidecar::spool {

enum class Sync : std::uint8_t { Batched, PerFile, None };

// One file operation. Write: `bytes` become `dir`/`name`, replacing it. Remove:
// `dir`/`name` goes (missing already is fine).
struct FileOp {
  enum class Kind : std::uint8_t { Write, Remove };
  Kind kind = Kind::Write;
  std::string dir;  // absolute
  std::string name;
  std::string bytes;
};

// Ops that succeed or fail together, in order (a Remove after a Write happens only
// once the Write is durable).
struct FileJob {
  std::vector<FileOp> ops;
  std::function<void(foundation::Status)> done;  // on the committer's thread
};

struct CommitterStats {
  std::uint64_t batches = 0;
  std::uint64_t jobs = 0;
  std::uint64_t largest_batch = 0;
  std::uint64_t data_syncs = 0;  // fsync or fdatasync calls on file data
};

// Runs a list of jobs as one batch on the calling thread (what the thread does, and
// what the synchronous Store calls use): runBatchOps answers each job's Status,
// runBatch calls each job's `done` with it.
std::vector<foundation::Status> runBatchOps(std::vector<FileJob>& jobs, Sync sync,
                                            CommitterStats& stats);
void runBatch(std::vector<FileJob>& jobs, Sync sync, CommitterStats& stats);

class Committer {
 public:
  // Starts the thread. `max_batch_bytes` bounds one batch's file bytes (a batch holds
  // at least one job).
  explicit Committer(Sync sync, std::size_t max_batch_bytes = std::size_t{64} << 20);
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;
  // Finishes every job already submitted, then joins the thread.
  ~Committer();

  void submit(FileJob job);
  CommitterStats stats() const;

 private:
  void run();

  const Sync sync_;
  const std::size_t max_batch_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<FileJob> queue_;
  bool stopping_ = false;
  CommitterStats stats_;
  std::thread thread_;  // last: starts after every other member exists
};

}  // namespace sidecar::spool
