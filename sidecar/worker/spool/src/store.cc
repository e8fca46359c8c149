// store.cc: durable spool files (see store.h).
//
// SECURITY: files are created O_EXCL|O_NOFOLLOW 0600 under a temporary dot-name in
// their final directory, written, fsynced, renamed over the final name and the
// directory fsynced: the POSIX recipe for a file that is either wholly there or not
// at all after a crash. Names are our own (validId); names read from the directory
// are checked before use, so a planted "../x" or symlink is never followed.
// ERRORS: every C call is checked; errno names the failure in the message (never the
// content of a file).
#include "sidecar/spool/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "durable_io.h"

namespace sidecar::spool {
namespace {

using detail::Fd;
using detail::ioError;
using detail::kTempPrefix;
using detail::syncDirectory;
using foundation::Error;
using foundation::Result;
using foundation::Status;

constexpr std::string_view kMessageSuffix = ".msg";
constexpr std::string_view kFinishedSuffix = ".fin";
constexpr std::string_view kKeyFile = "datakey";
constexpr std::size_t kMaxWrappedKey = 1024;

Status makeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return ioError("mkdir " + path, errno);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return ioError("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Error::permanent("spool: " + path + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return Error::permanent("spool: " + path + " belongs to another user");
  }
  if ((st.st_mode & 077) != 0 && ::fchmodat(AT_FDCWD, path.c_str(), 0700, 0) != 0) {
    return ioError("chmod " + path, errno);
  }
  return {};
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The entries of a directory (names only, no "." or "..").
Result<std::vector<std::string>> listDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ioError("opendir " + dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ioError("readdir " + dir, err);
  return names;
}

// A whole regular file (not a symlink), at most `max_bytes`.
Result<std::string> readFile(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0 && errno == ELOOP) return Error::permanent("spool file: a symbolic link");
  if (fd.get() < 0) return ioError("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ioError("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Error::permanent("spool file: not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return Error::permanent("spool file: larger than any record may be");
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ioError("read " + path, errno);
    if (n == 0) break;  // shrank while we read: the parser will call it truncated
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

std::uint64_t nowUnixMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Largest file a record under `limits` can make (header + tag + fields).
std::size_t maxFileBytes(const Limits& limits) {
  return limits.max_message_bytes + limits.max_recipients * (limits.max_address + 8) +
         6 * limits.max_name + 2 * limits.max_text + 4096 + kHeaderLength + kTagLength;
}

std::size_t countNamed(const std::string& dir, std::string_view suffix) {
  auto names = listDirectory(dir);
  if (!names) return 0;  // not there (yet): nothing in it
  std::size_t n = 0;
  for (const auto& name : *names) n += endsWith(name, suffix) ? 1U : 0U;
  return n;
}

constexpr std::string_view kSetAsideDir = "set-aside";

std::string hexOf(const std::array<unsigned char, kKeyIdLength>& bytes) {
  char hex[kKeyIdLength * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes.data(), bytes.size());
  return hex;
}

// The messages in every set-aside generation (the gauge; doctor lists them one by one).
Result<std::size_t> countSetAside(const std::string& directory) {
  auto all = listSetAside(directory);
  if (!all) return all.error();
  std::size_t n = 0;
  for (const auto& g : *all) n += g.messages;
  return n;
}

// rename() that never replaces `target`: renameat2(RENAME_NOREPLACE), or, where the
// filesystem does not know the flag (EINVAL: NFS, some FUSE), link() + unlink(), which
// fail with EEXIST in the same case. 0 or -1 with errno.
int renameNoReplace(const std::string& source, const std::string& target) {
  if (::renameat2(AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) {
    return 0;
  }
  if (errno != EINVAL) return -1;
  if (::link(source.c_str(), target.c_str()) != 0) {
    if (errno != EEXIST) return -1;
    // An earlier attempt linked this very file and then failed to unlink it: finish
    // that move instead of keeping a second, suffixed copy.
    struct stat from {
    }, to{};
    if (::stat(source.c_str(), &from) != 0 || ::stat(target.c_str(), &to) != 0 ||
        from.st_dev != to.st_dev || from.st_ino != to.st_ino) {
      errno = EEXIST;
      return -1;
    }
  }
  return ::unlink(source.c_str());
}

// Moves every entry of `from` into `to`, one rename each, never over an existing name
// (a clash keeps both: the newcomer gets a suffix).
Result<void> moveEntries(const std::string& from, const std::string& to) {
  auto names = listDirectory(from);
  if (!names) return names.error();
  for (const auto& name : *names) {
    const std::string source = from + "/" + name;
    std::string target = to + "/" + name;
    for (int attempt = 0;; ++attempt) {
      if (renameNoReplace(source, target) == 0) break;
      if (errno != EEXIST || attempt >= 100) return ioError("set aside " + source, errno);
      target = to + "/" + name + "." + std::to_string(nowUnixMs()) + "-" + std::to_string(attempt);
    }
  }
  return {};
}

}  // namespace

Result<std::vector<SetAside>> listSetAside(const std::string& directory) {
  const std::string base = directory + "/" + std::string(kSetAsideDir);
  std::vector<SetAside> out;
  if (::access(base.c_str(), F_OK) != 0) {
    if (errno == ENOENT) return out;
    return ioError("access " + base, errno);
  }
  auto names = listDirectory(base);
  if (!names) return names.error();
  for (const auto& name : *names) {
    const std::string dir = base + "/" + name;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    out.push_back({dir, countNamed(dir + "/messages", kMessageSuffix),
                   countNamed(dir + "/finished", kFinishedSuffix)});
  }
  return out;
}

Result<Store> Store::open(const std::string& directory, StoreLimits limits) {
  if (directory.empty() || directory.front() != '/') {
    return Error::permanent("spool.directory must be an absolute path");
  }
  Store store(directory, limits);
  for (const auto& dir :
       {directory, store.messagesDir(), store.finishedDir(), directory + "/quarantine"}) {
    if (auto s = makeDirectory(dir); !s) return s.error();
  }
  // A crash between create and rename leaves a temporary file: never acknowledged
  // (the caller answers only after the rename), so it is removed.
  for (const auto& dir : {store.messagesDir(), store.finishedDir(), directory}) {
    auto names = listDirectory(dir);
    if (!names) return names.error();
    for (const auto& name : *names) {
      if (name.rfind(kTempPrefix, 0) == 0 && ::unlink((dir + "/" + name).c_str()) != 0) {
        return ioError("unlink " + dir + "/" + name, errno);
      }
    }
  }
  auto set_aside = countSetAside(directory);
  if (!set_aside) return set_aside.error();
  store.set_aside_messages_ = *set_aside;
  return store;
}

Result<SetAside> Store::setAside(std::string_view wrapped) {
  const std::string base = directory_ + "/" + std::string(kSetAsideDir);
  const std::string generation = base + "/" + hexOf(keyIdOf(wrapped));
  for (const auto& dir : {base, generation, generation + "/messages", generation + "/finished"}) {
    if (auto s = makeDirectory(dir); !s) return s.error();
  }
  // The wrapped key first: a generation without it could never be opened again.
  if (auto s = writeDurably(generation, std::string(kKeyFile), std::string(wrapped) + "\n"); !s) {
    return s.error();
  }
  auto messages = moveEntries(messagesDir(), generation + "/messages");
  if (!messages) return messages.error();
  auto finished = moveEntries(finishedDir(), generation + "/finished");
  if (!finished) return finished.error();
  if (limits_.fsync) {
    for (const auto& dir : {generation + "/messages", generation + "/finished", messagesDir(),
                            finishedDir(), generation, base, directory_}) {
      if (auto s = syncDirectory(dir); !s) return s.error();
    }
  }
  sizes_.clear();
  bytes_ = 0;
  SetAside out{generation, countNamed(generation + "/messages", kMessageSuffix),
               countNamed(generation + "/finished", kFinishedSuffix)};
  auto set_aside = countSetAside(directory_);
  if (!set_aside) return set_aside.error();
  set_aside_messages_ = *set_aside;
  return out;
}

Result<std::optional<std::string>> Store::readWrappedKey() const {
  const std::string path = directory_ + "/" + std::string(kKeyFile);
  auto bytes = readFile(path, kMaxWrappedKey);
  if (!bytes) {
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
      return std::optional<std::string>();
    }
    return bytes.error();
  }
  std::string wrapped = std::move(*bytes);
  while (!wrapped.empty() && (wrapped.back() == '\n' || wrapped.back() == '\r')) wrapped.pop_back();
  if (wrapped.rfind("vault:v", 0) != 0) {
    return Error::permanent("spool: " + path + " does not hold a Transit-wrapped key");
  }
  return std::optional<std::string>(std::move(wrapped));
}

Status Store::writeWrappedKey(std::string_view wrapped) const {
  return writeDurably(directory_, std::string(kKeyFile), std::string(wrapped) + "\n");
}

bool Store::hasRoom(std::size_t sealed_bytes) const noexcept {
  return sizes_.size() < limits_.max_messages && bytes_ + sealed_bytes <= limits_.max_bytes;
}

Status Store::writeDurably(const std::string& dir, const std::string& name,
                           std::string_view bytes) const {
  std::vector<FileJob> jobs(1);
  jobs[0].ops.push_back({FileOp::Kind::Write, dir, name, std::string(bytes)});
  Status status;
  jobs[0].done = [&status](Status s) { status = std::move(s); };
  runBatch(jobs, limits_.sync(), inline_stats_);
  return status;
}

Status Store::removeDurably(const std::string& dir, const std::string& name) const {
  std::vector<FileJob> jobs(1);
  jobs[0].ops.push_back({FileOp::Kind::Remove, dir, name, {}});
  Status status;
  jobs[0].done = [&status](Status s) { status = std::move(s); };
  runBatch(jobs, limits_.sync(), inline_stats_);
  return status;
}

void Store::sized(const std::string& id, std::size_t size) {
  auto [it, inserted] = sizes_.try_emplace(id, size);
  if (!inserted) {
    bytes_ -= it->second;
    it->second = size;
  }
  bytes_ += size;
}

void Store::unsized(const std::string& id) {
  if (auto it = sizes_.find(id); it != sizes_.end()) {
    bytes_ -= it->second;
    sizes_.erase(it);
  }
}

void Store::startCommitter(Post post) {
  post_ = std::move(post);
  committer_ = std::make_unique<Committer>(limits_.sync());
}

CommitterStats Store::commitStats() const {
  return committer_ ? committer_->stats() : CommitterStats{};
}

void Store::run(FileJob job, Done done) {
  if (!committer_) {
    std::vector<FileJob> jobs(1, std::move(job));
    Status status;
    jobs[0].done = [&status](Status s) { status = std::move(s); };
    runBatch(jobs, limits_.sync(), inline_stats_);
    return done(std::move(status));
  }
  job.done = [post = post_, done = std::move(done)](Status status) mutable {
    post([done = std::move(done), status = std::move(status)]() mutable {
      done(std::move(status));
    });
  };
  committer_->submit(std::move(job));
}

void Store::putAsync(const Record& record, const DataKey& key, Done done) {
  if (record.kind != Kind::Message) {
    return done(Error::internal("spool: put() of a Finished record"));
  }
  auto sealed = seal(record, key);
  if (!sealed) return done(sealed.error());
  // Counted from now: messages arriving while this one is on its way see its size.
  const auto previous = sizes_.find(record.id);
  const std::optional<std::size_t> old_size =
      previous == sizes_.end() ? std::nullopt : std::optional<std::size_t>(previous->second);
  sized(record.id, sealed->size());
  FileJob job;
  job.ops.push_back(
      {FileOp::Kind::Write, messagesDir(), record.id + std::string(kMessageSuffix), *sealed});
  std::weak_ptr<bool> alive = alive_;
  run(std::move(job),
      [this, alive, id = record.id, old_size, done = std::move(done)](Status status) {
        if (!status && !alive.expired()) {
          // A rewrite that failed leaves the old file; a new message leaves nothing.
          if (old_size) {
            sized(id, *old_size);
          } else {
            unsized(id);
          }
        }
        done(std::move(status));
      });
}

void Store::finishAsync(const Record& finished, const DataKey& key, Done done) {
  if (finished.kind != Kind::Finished) {
    return done(Error::internal("spool: finish() of a Message"));
  }
  auto sealed = seal(finished, key);
  if (!sealed) return done(sealed.error());
  FileJob job;
  job.ops.push_back(
      {FileOp::Kind::Write, finishedDir(), finished.id + std::string(kFinishedSuffix), *sealed});
  job.ops.push_back(
      {FileOp::Kind::Remove, messagesDir(), finished.id + std::string(kMessageSuffix), {}});
  std::weak_ptr<bool> alive = alive_;
  run(std::move(job), [this, alive, id = finished.id, done = std::move(done)](Status status) {
    if (status && !alive.expired()) unsized(id);
    done(std::move(status));
  });
}

void Store::forgetAsync(const std::string& id, Done done) {
  if (!validId(id)) return done(Error::internal("spool: bad message id"));
  FileJob job;
  job.ops.push_back({FileOp::Kind::Remove, finishedDir(), id + std::string(kFinishedSuffix), {}});
  run(std::move(job), std::move(done));
}

Status Store::put(const Record& record, const DataKey& key) {
  Status result;
  bool answered = false;
  auto keep = [&](Status s) {
    result = std::move(s);
    answered = true;
  };
  if (committer_) return Error::internal("spool: put() with a committer running");
  putAsync(record, key, keep);
  return answered ? result : Error::internal("spool: put() not answered");
}

Status Store::finish(const Record& finished, const DataKey& key) {
  Status result;
  bool answered = false;
  if (committer_) return Error::internal("spool: finish() with a committer running");
  finishAsync(finished, key, [&](Status s) {
    result = std::move(s);
    answered = true;
  });
  return answered ? result : Error::internal("spool: finish() not answered");
}

bool Store::holdsMessages() const {
  auto names = listDirectory(messagesDir());
  if (!names) return true;  // unknown: assume it does (the caller then waits)
  for (const auto& name : *names) {
    if (name.rfind(kTempPrefix, 0) != 0) return true;
  }
  return false;
}

Status Store::forget(const std::string& id) {
  Status result;
  bool answered = false;
  if (committer_) return Error::internal("spool: forget() with a committer running");
  forgetAsync(id, [&](Status s) {
    result = std::move(s);
    answered = true;
  });
  return answered ? result : Error::internal("spool: forget() not answered");
}

Result<std::string> Store::quarantine(const std::string& dir, const std::string& name) {
  // The time in the name keeps two bad files of the same name apart.
  const std::string target = directory_ + "/quarantine/" + name + "." + std::to_string(nowUnixMs());
  if (::rename((dir + "/" + name).c_str(), target.c_str()) != 0) {
    return ioError("quarantine " + dir + "/" + name, errno);
  }
  if (limits_.fsync) {
    if (auto s = syncDirectory(dir); !s) return s.error();
    if (auto s = syncDirectory(directory_ + "/quarantine"); !s) return s.error();
  }
  ++quarantined_total_;
  return target;
}

Loaded Store::load(const DataKey& key, const Limits& limits) {
  Loaded out;
  sizes_.clear();
  bytes_ = 0;
  const std::size_t max_file = maxFileBytes(limits);
  auto scan = [&](const std::string& dir, std::string_view suffix, Kind kind) {
    auto names = listDirectory(dir);
    if (!names) {
      out.errors.push_back(names.error().message);
      return;
    }
    for (const auto& name : *names) {
      if (name.rfind(kTempPrefix, 0) == 0) continue;
      const bool named_well = endsWith(name, suffix) && validId(std::string_view(name).substr(
                                                            0, name.size() - suffix.size()));
      Result<Record> record = Error::permanent("spool file: unexpected file name");
      if (named_well) {
        auto bytes = readFile(dir + "/" + name, max_file);
        if (!bytes && bytes.error().kind == foundation::ErrorKind::Temporary) {
          out.errors.push_back(bytes.error().message);  // left in place: an I/O error
          continue;
        }
        record = bytes ? spool::open(*bytes, key, limits) : Result<Record>(bytes.error());
        if (record && (record->kind != kind || record->id + std::string(suffix) != name)) {
          record = Error::permanent("spool file: record does not match its file name");
        }
        if (record && kind == Kind::Message) {
          sizes_[record->id] = bytes->size();
          bytes_ += bytes->size();
        }
      }
      if (!record) {
        auto moved = quarantine(dir, name);
        if (moved) {
          out.quarantined.push_back({*moved, record.error().message});
        } else {
          out.errors.push_back(moved.error().message);
        }
        continue;
      }
      (kind == Kind::Message ? out.pending : out.finished).push_back(std::move(*record));
    }
  };
  scan(finishedDir(), kFinishedSuffix, Kind::Finished);
  scan(messagesDir(), kMessageSuffix, Kind::Message);
  // A crash inside finish(): both files. The Finished record is the truth.
  for (auto it = out.pending.begin(); it != out.pending.end();) {
    bool done = false;
    for (const auto& f : out.finished) done = done || f.id == it->id;
    if (!done) {
      ++it;
      continue;
    }
    if (auto s = removeDurably(messagesDir(), it->id + std::string(kMessageSuffix)); !s) {
      out.errors.push_back(s.error().message);
    }
    if (auto size = sizes_.find(it->id); size != sizes_.end()) {
      bytes_ -= size->second;
      sizes_.erase(size);
    }
    it = out.pending.erase(it);
  }
  return out;
}

}  // namespace sidecar::spool
