// store.h: the spool directory: sealed files written durably, loaded after a restart,
// bad files quarantined.
//
// SECURITY: the directory is the worker's own (created 0700; files 0600). A message
// counts as spooled only once its file, its rename and its directory are fsynced, so a
// power cut after the caller answered 202 cannot lose it. Files that do not open
// (format.h: truncated, corrupt, tampered, sealed under another key) are moved to
// quarantine/ untouched, for a person to look at, and are never deleted or parsed
// again. The Transit-wrapped data key is stored beside the spool (`datakey`): it is
// useless without the app's Transit key, which only the keeper can use. When Transit
// says it can never decrypt it, the whole generation is moved to set-aside/ (setAside),
// likewise never deleted, and a new data key starts a new generation.
// ERRORS: Result values. ENOSPC/EDQUOT are Temporary ("spool disk full"); other I/O
// errors Temporary too (the caller answers 503 and the client retries). put(),
// finish() and forget() block on disk I/O (fsync); after startCommitter() their Async
// forms do the I/O in batches on the committer's thread (committer.h: group commit)
// and answer on the owner's thread, so an event loop never waits for the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "foundation/result.h"
#include "sidecar/spool/committer.h"
#include "sidecar/spool/format.h"

namespace sidecar::spool {

struct StoreLimits {
  std::size_t max_bytes = std::size_t{1} << 30;  // sealed message files, in bytes
  std::size_t max_messages = 10000;              // message files
  // fsync every write (the default). Off only for benchmarks of the cost.
  bool fsync = true;
  // With fsync: one fdatasync round + one directory fsync per batch (group commit),
  // or the classic fsync per file (false; kept to measure against).
  bool group_commit = true;
  Sync sync() const noexcept {
    return !fsync ? Sync::None : group_commit ? Sync::Batched : Sync::PerFile;
  }
};

// A file load() moved to quarantine/, and why (for the caller's log line).
struct Quarantined {
  std::string file;    // its new path
  std::string reason;  // format.h's error text: never the file's content
};

// A generation of the spool set aside because Transit can no longer decrypt its data
// key (the Transit key was deleted, or OpenBao/Vault lost its state or is another one):
// <directory>/set-aside/<key id>/, laid out as a spool (datakey, messages/, finished/),
// so that a sidecar pointed at it sends them once the key is restored. Never deleted.
struct SetAside {
  std::string directory;     // its path
  std::size_t messages = 0;  // message files in it (accepted, not finished)
  std::size_t finished = 0;  // final statuses in it
};

// Every set-aside generation of the spool at `directory` (none: an empty list).
foundation::Result<std::vector<SetAside>> listSetAside(const std::string& directory);

// What a restart finds.
struct Loaded {
  std::vector<Record> pending;   // Message records: to be sent
  std::vector<Record> finished;  // Finished records: statuses to answer
  std::vector<Quarantined> quarantined;
  std::vector<std::string> errors;  // I/O failures (a file left in place, tried next load)
};

class Store {
 public:
  // Creates <directory>/{messages,finished,quarantine} (0700) if missing, removes
  // temporary files a crash left behind (never a completed file).
  static foundation::Result<Store> open(const std::string& directory, StoreLimits limits);

  // The wrapped data key stored beside the spool; nullopt when there is none yet.
  foundation::Result<std::optional<std::string>> readWrappedKey() const;
  // Written once, durably, before any message is sealed under the key.
  foundation::Status writeWrappedKey(std::string_view wrapped) const;

  // The generation sealed under the data key whose wrapped form is `wrapped` (the one
  // in `datakey`, which Transit says it can never decrypt) goes to set-aside/<its key
  // id>/ as a whole: a copy of the datakey first, then every file of messages/ and
  // finished/, each by one rename (never copied, never deleted), then the directories
  // are fsynced. The datakey itself stays until writeWrappedKey() replaces it: a crash
  // in between repeats this into the same place, and nothing is in two places. Call
  // before load() (nothing of the old generation is in memory).
  foundation::Result<SetAside> setAside(std::string_view wrapped);
  // Messages in set-aside generations, as of open() or the last setAside().
  std::size_t setAsideMessages() const noexcept { return set_aside_messages_; }

  // Room for one more message file of `sealed_bytes`: within both limits.
  bool hasRoom(std::size_t sealed_bytes) const noexcept;

  // Seals and writes a Message record durably (replacing an earlier version of it,
  // e.g. after some of its recipients were delivered). The limits are the caller's to
  // check with hasRoom() for a new message; a rewrite is never refused for them.
  foundation::Status put(const Record& record, const DataKey& key);
  // The message ended: its Finished record is written durably first, then the
  // message file is removed (a crash in between leaves both; load() keeps the
  // Finished one and removes the message).
  foundation::Status finish(const Record& finished, const DataKey& key);
  // Drops a Finished record (retention over).
  foundation::Status forget(const std::string& id);

  // ---- group commit ----
  using Done = std::function<void(foundation::Status)>;
  // Runs a closure on the owner's thread (e.g. asio::post to its io_context).
  using Post = std::function<void(std::function<void()>)>;
  // From now on the Async calls below write on a committer thread, in batches, and
  // call `done` through `post`. Call once the Store is at its final address.
  void startCommitter(Post post);
  // As put()/finish()/forget(), answered through `done` once durable (or failed).
  // Without a committer they run at once and call `done` before returning. The room
  // a new message takes counts from the call (hasRoom), and is given back on failure.
  void putAsync(const Record& record, const DataKey& key, Done done);
  void finishAsync(const Record& finished, const DataKey& key, Done done);
  void forgetAsync(const std::string& id, Done done);
  // Batches, jobs and data syncs so far (zero without a committer).
  CommitterStats commitStats() const;

  // Every file, opened with `key`. Files that do not open are quarantined.
  Loaded load(const DataKey& key, const Limits& limits = {});

  // Any message file on disk (before load(): a restart's spool is not empty).
  bool holdsMessages() const;

  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t messages() const noexcept { return sizes_.size(); }
  std::uint64_t quarantinedTotal() const noexcept { return quarantined_total_; }
  const std::string& directory() const noexcept { return directory_; }
  StoreLimits& limits() noexcept { return limits_; }

 private:
  Store(std::string directory, StoreLimits limits)
      : directory_(std::move(directory)), limits_(limits) {}
  foundation::Status writeDurably(const std::string& dir, const std::string& name,
                                  std::string_view bytes) const;
  foundation::Status removeDurably(const std::string& dir, const std::string& name) const;
  // Runs `job` on the committer (or here, without one); `done` on the owner's thread.
  void run(FileJob job, Done done);
  void sized(const std::string& id, std::size_t size);  // a message file's new size
  void unsized(const std::string& id);                  // it is gone
  foundation::Result<std::string> quarantine(const std::string& dir, const std::string& name);
  std::string messagesDir() const { return directory_ + "/messages"; }
  std::string finishedDir() const { return directory_ + "/finished"; }

  std::string directory_;
  StoreLimits limits_;
  std::map<std::string, std::size_t> sizes_;  // message id -> sealed file size
  std::size_t bytes_ = 0;
  std::uint64_t quarantined_total_ = 0;
  std::size_t set_aside_messages_ = 0;
  Post post_;
  std::unique_ptr<Committer> committer_;
  // Completions check it before touching the Store (it may be gone by then).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  mutable CommitterStats inline_stats_;
};

}  // namespace sidecar::spool
