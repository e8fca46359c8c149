// handoff_memory_test.cc: the keeper's mapping of the supervisor's hand-off memory
// (handoff_memory.h) on a real memfd_secret or sealed memfd: a record stored by one
// keeper is what the next one's mapping loads; the newest record wins; a record that
// does not fit leaves the previous one; clear() leaves nothing; a descriptor of the
// wrong size is refused before it is mapped (a short file would fault the keeper).
#include "sidecar/keeper/handoff_memory.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "keeper_test_support.h"

using namespace sidecar;
using keeper_test::revealed;

namespace {

foundation::SecretBytes sb(std::string_view text) {
  return foundation::SecretBytes::copyOf(text);
}

ipc::HandoffState record(const std::string& token, const std::string& lease_id) {
  ipc::HandoffState s;
  s.token = sb(token);
  s.token_accessor = "acc-" + token;
  s.token_expires_unix = 1900000000;
  s.role_id = sb("role-1");
  s.secret_id = sb("sid-1");
  ipc::HandoffLease lease;
  lease.credential_path = "smtp/creds/app";
  lease.lease_id = lease_id;
  lease.username = sb("v-app");
  lease.password = sb("pw");
  lease.current = true;
  s.leases.push_back(std::move(lease));
  return s;
}

// A keeper's mapping of the supervisor's memory (its own duplicate of the descriptor,
// as each keeper receives one over SCM_RIGHTS).
HandoffMemory mapped(int supervisor_fd) {
  auto memory = HandoffMemory::map(::fcntl(supervisor_fd, F_DUPFD_CLOEXEC, 0));
  REQUIRE_MESSAGE(memory.ok(), memory.errorMessage());
  return std::move(*memory);
}

struct SupervisorMemory {
  SupervisorMemory() {
    foundation::initSecretMemoryOrDie();
    auto made = ipc::createHandoffMemory();
    REQUIRE_MESSAGE(made.ok(), made.errorMessage());
    fd = made->fd;
  }
  ~SupervisorMemory() { ::close(fd); }
  int fd = -1;
};

}  // namespace

TEST_CASE_FIXTURE(SupervisorMemory, "the successor loads what the dead keeper stored") {
  {
    HandoffMemory fresh = mapped(fd);
    CHECK_FALSE(fresh.load().has_value());  // a new memory holds no record
  }
  {
    HandoffMemory dead = mapped(fd);
    REQUIRE(dead.store(record("tok-1", "L1")));
    REQUIRE(dead.store(record("tok-2", "L2")));  // the other slot: the newest wins
    // No clean stop: the process dies with its mapping (the destructor only unmaps).
  }
  HandoffMemory next = mapped(fd);
  auto loaded = next.load();
  REQUIRE(loaded.has_value());
  CHECK(revealed(loaded->token) == "tok-2");
  CHECK(loaded->token_accessor == "acc-tok-2");
  CHECK(revealed(loaded->secret_id) == "sid-1");
  REQUIRE(loaded->leases.size() == 1);
  CHECK(loaded->leases[0].lease_id == "L2");
  CHECK(revealed(loaded->leases[0].password) == "pw");

  // The successor's own writes go on from the sequence it loaded.
  REQUIRE(next.store(record("tok-3", "L3")));
  CHECK(revealed(mapped(fd).load()->token) == "tok-3");
}

TEST_CASE_FIXTURE(SupervisorMemory, "a record too large for a slot is refused; the last stays") {
  HandoffMemory memory = mapped(fd);
  REQUIRE(memory.store(record("tok-1", "L1")));
  ipc::HandoffState huge = record("tok-2", "L2");
  for (int i = 0; i < 5; ++i) {
    ipc::HandoffLease l;
    l.lease_id = "big-" + std::to_string(i);
    l.password = foundation::SecretBytes(4000);
    huge.leases.push_back(std::move(l));
  }
  CHECK_FALSE(memory.store(huge));
  auto loaded = mapped(fd).load();
  REQUIRE(loaded.has_value());
  CHECK(revealed(loaded->token) == "tok-1");
}

TEST_CASE_FIXTURE(SupervisorMemory, "clear(): a clean stop leaves nothing to take over") {
  HandoffMemory memory = mapped(fd);
  REQUIRE(memory.store(record("tok-1", "L1")));
  REQUIRE(memory.store(record("tok-2", "L2")));
  memory.clear();
  CHECK_FALSE(mapped(fd).load().has_value());
}

TEST_CASE("map(): a descriptor of the wrong size is refused, and closed") {
  foundation::initSecretMemoryOrDie();
  const struct {
    const char* name;
    off_t size;
  } rows[] = {{"empty", 0}, {"one slot short", 16 * 1024}, {"one byte long", 32 * 1024 + 1}};
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const int fd = ::memfd_create("handoff-test", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, row.size) == 0);
    auto memory = HandoffMemory::map(fd);
    REQUIRE_FALSE(memory.ok());
    CHECK(memory.error().message.find("hand-off memory: size") != std::string::npos);
    CHECK(::fcntl(fd, F_GETFD) == -1);  // owned by map(): closed on failure
  }
  // Not a file at all.
  auto none = HandoffMemory::map(-1);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("fstat") != std::string::npos);
}
