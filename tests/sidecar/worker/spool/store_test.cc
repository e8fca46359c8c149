// store_test.cc: the spool directory on a real filesystem (a temporary directory):
// what is put survives a new Store (a restart), finish() leaves only the status,
// bad files are quarantined (never deleted, never a crash), limits are kept.
#include "sidecar/spool/store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>

#include "foundation/random.h"

using namespace sidecar::spool;
namespace fs = std::filesystem;

namespace {

struct Init {
  Init() { foundation::initSecretMemoryOrDie(); }
} init;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "spool-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

DataKey testKey() {
  DataKey key;
  key.key = foundation::SecretBytes::copyOf(std::string_view(std::string(kKeyLength, 'k')));
  key.id = keyIdOf("vault:v1:test");
  return key;
}

Record message(char id_digit, std::size_t body_bytes = 100) {
  Record r;
  r.id = std::string(kIdLength, id_digit);
  r.recipients = {{"a@example.test", RecipientState::Pending, 0}};
  r.from = "app@example.test";
  r.profile = "default";
  r.message = std::string(body_bytes, 'm');
  return r;
}

Record finishedOf(Record r) {
  r.kind = Kind::Finished;
  r.state = State::Sent;
  r.message.clear();
  r.recipients[0].state = RecipientState::Delivered;
  return r;
}

std::size_t filesIn(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("put, restart, load: every message comes back; finish leaves only its status") {
  TempDir dir;
  const DataKey key = testKey();
  {
    auto store = Store::open(dir.path, {});
    REQUIRE_MESSAGE(store.ok(), store.errorMessage());
    for (char c : std::string("0123456789")) REQUIRE(store->put(message(c), key).ok());
    CHECK(store->messages() == 10);
    REQUIRE(store->finish(finishedOf(message('3')), key).ok());
    CHECK(store->messages() == 9);
  }
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  auto loaded = store->load(key);
  CHECK(loaded.pending.size() == 9);
  REQUIRE(loaded.finished.size() == 1);
  CHECK(loaded.finished[0].id == std::string(kIdLength, '3'));
  CHECK(loaded.quarantined.empty());
  CHECK(loaded.errors.empty());
  CHECK(store->messages() == 9);
  CHECK(store->bytes() > 9 * 100);
  // Files are the owner's only.
  struct stat st {};
  REQUIRE(::stat((dir.path + "/messages").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir.path + "/messages/" + std::string(kIdLength, '0') + ".msg").c_str(), &st) ==
          0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(store->forget(std::string(kIdLength, '3')).ok());
  CHECK(store->load(key).finished.empty());
}

TEST_CASE("a rewrite replaces the message (recipients delivered since) without double counting") {
  TempDir dir;
  const DataKey key = testKey();
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  Record r = message('a');
  r.recipients.push_back({"b@example.test", RecipientState::Pending, 0});
  REQUIRE(store->put(r, key).ok());
  const auto bytes = store->bytes();
  r.recipients[0].state = RecipientState::Delivered;
  r.state = State::Retrying;
  r.attempts = 1;
  REQUIRE(store->put(r, key).ok());
  CHECK(store->bytes() == bytes);
  CHECK(store->messages() == 1);
  auto loaded = store->load(key);
  REQUIRE(loaded.pending.size() == 1);
  CHECK(loaded.pending[0] == r);
}

TEST_CASE("a crash inside finish (both files present): the Finished record wins") {
  TempDir dir;
  const DataKey key = testKey();
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  REQUIRE(store->put(message('b'), key).ok());
  // What finish() writes first, without its second step.
  const std::string fin = dir.path + "/finished/" + std::string(kIdLength, 'b') + ".fin";
  std::ofstream(fin, std::ios::binary) << seal(finishedOf(message('b')), key).value();
  auto loaded = store->load(key);
  CHECK(loaded.pending.empty());
  CHECK(loaded.finished.size() == 1);
  CHECK(filesIn(dir.path + "/messages") == 0);
}

TEST_CASE("bad files, table: quarantined with a reason, nothing else touched") {
  struct Row {
    const char* name;
    const char* file;  // under messages/
    std::function<std::string(const std::string& good)> content;
    const char* reason;
  };
  const std::string id = std::string(kIdLength, 'c');
  const std::vector<Row> rows = {
      {"garbage", "cccccccccccccccccccccccccccccccc.msg", [](auto&) { return std::string("junk"); },
       "truncated"},
      {"empty (a crash before any byte)", "cccccccccccccccccccccccccccccccc.msg",
       [](auto&) { return std::string(); }, "truncated"},
      {"truncated", "cccccccccccccccccccccccccccccccc.msg",
       [](const std::string& good) { return good.substr(0, good.size() - 7); }, "truncated"},
      {"tampered", "cccccccccccccccccccccccccccccccc.msg",
       [](const std::string& good) {
         std::string bad = good;
         bad[bad.size() - 20] = static_cast<char>(bad[bad.size() - 20] ^ 1);
         return bad;
       },
       "authentication failed"},
      {"renamed to another id", "dddddddddddddddddddddddddddddddd.msg",
       [](const std::string& good) { return good; }, "does not match its file name"},
      {"a name we never write", "notes.txt", [](auto&) { return std::string("x"); },
       "unexpected file name"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    TempDir dir;
    const DataKey key = testKey();
    auto store = Store::open(dir.path, {});
    REQUIRE(store.ok());
    REQUIRE(store->put(message('e'), key).ok());  // a good neighbour
    const std::string good = seal(message('c'), key).value();
    std::ofstream(dir.path + "/messages/" + row.file, std::ios::binary) << row.content(good);
    auto loaded = store->load(key);
    CHECK(loaded.pending.size() == 1);
    REQUIRE(loaded.quarantined.size() == 1);
    CHECK_MESSAGE(loaded.quarantined[0].reason.find(row.reason) != std::string::npos,
                  loaded.quarantined[0].reason);
    CHECK(filesIn(dir.path + "/quarantine") == 1);
    CHECK(store->quarantinedTotal() == 1);
    // A second load does not see it again.
    CHECK(store->load(key).quarantined.empty());
  }
}

TEST_CASE("a symlink in the spool is quarantined, its target never read") {
  TempDir dir;
  const DataKey key = testKey();
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  const std::string target = dir.path + "/elsewhere";
  std::ofstream(target) << "secret";
  fs::create_symlink(target, dir.path + "/messages/" + std::string(kIdLength, 'f') + ".msg");
  auto loaded = store->load(key);
  CHECK(loaded.pending.empty());
  CHECK(loaded.quarantined.size() == 1);
  CHECK(fs::exists(target));
}

TEST_CASE("temporary files of a crash are removed at open; completed files are kept") {
  TempDir dir;
  const DataKey key = testKey();
  {
    auto store = Store::open(dir.path, {});
    REQUIRE(store.ok());
    REQUIRE(store->put(message('1'), key).ok());
  }
  std::ofstream(dir.path + "/messages/.tmp-" + std::string(kIdLength, '2') + ".msg-00") << "half";
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  CHECK(filesIn(dir.path + "/messages") == 1);
  CHECK(store->load(key).pending.size() == 1);
}

TEST_CASE("limits in messages and bytes") {
  TempDir dir;
  const DataKey key = testKey();
  StoreLimits limits;
  limits.max_messages = 2;
  limits.max_bytes = 100000;
  auto store = Store::open(dir.path, limits);
  REQUIRE(store.ok());
  CHECK(store->hasRoom(1000));
  REQUIRE(store->put(message('1'), key).ok());
  REQUIRE(store->put(message('2'), key).ok());
  CHECK(!store->hasRoom(10));  // two messages: full by count
  REQUIRE(store->finish(finishedOf(message('1')), key).ok());
  CHECK(store->hasRoom(1000));
  CHECK(!store->hasRoom(100000));  // by bytes
}

TEST_CASE("the wrapped data key beside the spool") {
  TempDir dir;
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  auto none = store->readWrappedKey();
  REQUIRE(none.ok());
  CHECK(!none->has_value());
  REQUIRE(store->writeWrappedKey("vault:v1:abcdef").ok());
  auto some = store->readWrappedKey();
  REQUIRE(some.ok());
  CHECK(some->value() == "vault:v1:abcdef");
  std::ofstream(dir.path + "/datakey") << "not a key";
  CHECK(!store->readWrappedKey().ok());
}

TEST_CASE("a relative directory or a file in the way is refused") {
  CHECK(!Store::open("relative/spool", {}).ok());
  TempDir dir;
  std::ofstream(dir.path + "/file") << "x";
  auto store = Store::open(dir.path + "/file", {});
  REQUIRE(!store.ok());
  CHECK(store.error().message.find("not a directory") != std::string::npos);
}

// ---- group commit (committer.h) ----

namespace {

// The owner's thread, as a test: completions are queued and run by drain().
struct Inbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::function<void()>> queued;
  Store::Post post() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mutex);
      queued.push_back(std::move(fn));
      arrived.notify_all();
    };
  }
  // Runs completions on this thread until `until` holds (bounded: 10 s).
  bool drain(const std::function<bool()>& until) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!until()) {
      std::vector<std::function<void()>> now;
      {
        std::unique_lock<std::mutex> lock(mutex);
        if (!arrived.wait_until(lock, deadline, [&] { return !queued.empty(); })) return false;
        now.swap(queued);
      }
      for (auto& fn : now) fn();
    }
    return true;
  }
};

}  // namespace

TEST_CASE("group commit: many puts in few batches, every one durable and answered once") {
  for (Sync sync : {Sync::Batched, Sync::PerFile}) {
    CAPTURE(static_cast<int>(sync));
    TempDir dir;
    const DataKey key = testKey();
    StoreLimits limits;
    limits.group_commit = sync == Sync::Batched;
    const int kMessages = sync == Sync::Batched ? 200 : 40;  // fsync per file is slow
    {
      auto store = Store::open(dir.path, limits);
      REQUIRE(store.ok());
      Inbox inbox;
      store->startCommitter(inbox.post());
      int answered = 0;
      int failed = 0;
      for (int i = 0; i < kMessages; ++i) {
        Record r = message('0');
        r.id = foundation::randomHex(16);
        store->putAsync(r, key, [&](foundation::Status s) {
          ++answered;
          failed += s ? 0 : 1;
        });
      }
      // Counted at once (hasRoom sees messages on their way to the disk).
      CHECK(store->messages() == kMessages);
      REQUIRE(inbox.drain([&] { return answered == kMessages; }));
      CHECK(failed == 0);
      const auto stats = store->commitStats();
      CHECK(stats.jobs == kMessages);
      if (sync == Sync::Batched) {
        // Puts that arrive while a batch is on disk go together: fewer data syncs than
        // messages (the first batch may hold one message, the next the rest).
        CHECK(stats.batches < kMessages);
        CHECK(stats.data_syncs == kMessages);  // one fdatasync per file, in rounds
        CHECK(stats.largest_batch > 1);
      } else {
        CHECK(stats.data_syncs == kMessages);
      }
    }
    auto reopened = Store::open(dir.path, limits);
    REQUIRE(reopened.ok());
    CHECK(reopened->load(key).pending.size() == kMessages);
  }
}

TEST_CASE("group commit: finish after put in order; a failed write gives its room back") {
  TempDir dir;
  const DataKey key = testKey();
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  Inbox inbox;
  store->startCommitter(inbox.post());
  int answered = 0;
  std::vector<bool> ok;
  auto note = [&](foundation::Status s) {
    ++answered;
    ok.push_back(s.ok());
  };
  const Record a = message('a');
  store->putAsync(a, key, note);
  store->finishAsync(finishedOf(a), key, note);
  REQUIRE(inbox.drain([&] { return answered == 2; }));
  CHECK(ok == std::vector<bool>{true, true});
  CHECK(store->messages() == 0);
  CHECK(filesIn(dir.path + "/messages") == 0);
  CHECK(filesIn(dir.path + "/finished") == 1);
  // The messages directory gone: the write fails, the message is not counted.
  fs::remove_all(dir.path + "/messages");
  store->putAsync(message('b'), key, note);
  REQUIRE(inbox.drain([&] { return answered == 3; }));
  CHECK(!ok.back());
  CHECK(store->messages() == 0);
  CHECK(store->bytes() == 0);
  store->forgetAsync(a.id, note);
  REQUIRE(inbox.drain([&] { return answered == 4; }));
  CHECK(ok.back());
  CHECK(filesIn(dir.path + "/finished") == 0);
  // The synchronous calls are for a Store without a committer.
  CHECK(!store->put(message('c'), key).ok());
}

TEST_CASE("group commit: the committer finishes what it was given before it goes") {
  TempDir dir;
  const DataKey key = testKey();
  std::atomic<int> answered{0};
  {
    auto store = Store::open(dir.path, {});
    REQUIRE(store.ok());
    // Completions dropped (the owner's loop already stopped), the files still written.
    store->startCommitter([&](std::function<void()>) { ++answered; });
    for (char c : std::string("0123456789")) store->putAsync(message(c), key, [](auto) {});
  }
  CHECK(answered == 10);
  auto reopened = Store::open(dir.path, {});
  REQUIRE(reopened.ok());
  CHECK(reopened->load(key).pending.size() == 10);
}

TEST_CASE("a generation whose key Transit lost is set aside whole, and opens there as a spool") {
  TempDir dir;
  const DataKey old_key = testKey();  // its wrapped form: "vault:v1:test"
  {
    auto store = Store::open(dir.path, {});
    REQUIRE(store.ok());
    REQUIRE(store->writeWrappedKey("vault:v1:test").ok());
    for (char c : std::string("0123")) REQUIRE(store->put(message(c), old_key).ok());
    REQUIRE(store->finish(finishedOf(message('3')), old_key).ok());
  }
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  CHECK(store->setAsideMessages() == 0);
  auto moved = store->setAside("vault:v1:test");
  REQUIRE_MESSAGE(moved.ok(), moved.errorMessage());
  const std::string generation = dir.path + "/set-aside/" + [] {
    std::string hex;
    for (unsigned char b : keyIdOf("vault:v1:test")) {
      static constexpr char kDigits[] = "0123456789abcdef";
      hex += kDigits[b >> 4];
      hex += kDigits[b & 0xf];
    }
    return hex;
  }();
  CHECK(moved->directory == generation);
  CHECK(moved->messages == 3);
  CHECK(moved->finished == 1);
  CHECK(store->setAsideMessages() == 3);
  // Nothing left in the live generation; the old datakey stays until replaced.
  CHECK(filesIn(dir.path + "/messages") == 0);
  CHECK(filesIn(dir.path + "/finished") == 0);
  CHECK(store->readWrappedKey()->value() == "vault:v1:test");
  REQUIRE(store->writeWrappedKey("vault:v1:new").ok());
  // A crash before the new key was written repeats the move into the same place:
  // nothing is moved twice or lost (here: nothing left to move).
  auto again = store->setAside("vault:v1:test");
  REQUIRE(again.ok());
  CHECK(again->messages == 3);
  auto listed = listSetAside(dir.path);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].messages == 3);
  // The set-aside directory is a spool: with the old key back, everything opens.
  auto aside = Store::open(generation, {});
  REQUIRE(aside.ok());
  CHECK(aside->readWrappedKey()->value() == "vault:v1:test");
  auto loaded = aside->load(old_key);
  CHECK(loaded.pending.size() == 3);
  CHECK(loaded.finished.size() == 1);
  CHECK(loaded.quarantined.empty());
  // A new Store on the live directory counts what is set aside.
  auto reopened = Store::open(dir.path, {});
  REQUIRE(reopened.ok());
  CHECK(reopened->setAsideMessages() == 3);
}

TEST_CASE("setting aside never overwrites: a name already there keeps both files") {
  TempDir dir;
  const DataKey key = testKey();
  auto store = Store::open(dir.path, {});
  REQUIRE(store.ok());
  REQUIRE(store->put(message('5'), key).ok());
  auto first = store->setAside("vault:v1:test");
  REQUIRE(first.ok());
  CHECK(first->messages == 1);
  // The same id again in the live generation (e.g. put back by hand, then lost again).
  REQUIRE(store->put(message('5'), key).ok());
  auto second = store->setAside("vault:v1:test");
  REQUIRE(second.ok());
  CHECK(filesIn(first->directory + "/messages") == 2);
  CHECK(filesIn(dir.path + "/messages") == 0);
}

TEST_CASE("no set-aside directory: nothing listed") {
  TempDir dir;
  auto listed = listSetAside(dir.path);
  REQUIRE(listed.ok());
  CHECK(listed->empty());
}
