// ha_failover_test.cc: the client keeps working through a leader change in a real
// three-node OpenBao raft cluster (scripts/bao-ha, on loopback).
//
// A reader loops on KV reads through a Client that knows all three addresses; the
// active node is stopped mid-loop. Every call must succeed within the client's retry
// budget: the standbys' new leader answers (directly, or through forwarding).
// Env (from `scripts/bao-ha env`): BAO_HA_ADDRS, BAO_HA_TOKEN_FILE; BAO_HA_SCRIPT is
// the script to stop and start nodes with.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "kv_write.h"
#include "vault/client.h"

using namespace vault;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::unique_ptr<Client> clusterClient(const std::vector<std::string>& addresses,
                                      unsigned attempts) {
  std::vector<HttpTransportPtr> transports;
  for (const auto& a : addresses) {
    TransportOptions o;
    o.address = a;
    o.connect_timeout = 1s;
    o.request_timeout = 5s;
    auto t = makeCurlTransport(o);
    REQUIRE_MESSAGE(t.ok(), t.errorMessage());
    transports.push_back(std::move(*t));
  }
  ClientOptions options;
  options.max_attempts = attempts;
  options.retry_backoff = {250ms, 2s, 2.0, 0.3};
  auto c = std::make_unique<Client>(std::move(transports), options);
  std::ifstream token_file(env("BAO_HA_TOKEN_FILE"));
  std::string token;
  std::getline(token_file, token);
  c->setToken(foundation::SecretBytes::copyOf(std::string_view(token)));
  return c;
}

int runScript(const std::string& args) {
  const std::string command = env("BAO_HA_SCRIPT") + " " + args + " >/dev/null 2>&1";
  return std::system(command.c_str());  // test-only: our own script, fixed arguments
}

}  // namespace

TEST_CASE("reads continue through the loss of the active node") {
  foundation::initSecretMemoryOrDie();
  const auto addresses = split(env("BAO_HA_ADDRS"));
  REQUIRE(addresses.size() == 3);
  auto admin = clusterClient(addresses, 20);

  // Where the leader is, and a secret to read.
  auto leader = admin->leader();
  REQUIRE_MESSAGE(leader.ok(), leader.errorMessage());
  std::size_t leader_index = addresses.size();
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (addresses[i] == leader->leader_address) leader_index = i;
  }
  REQUIRE_MESSAGE(leader_index < addresses.size(), "leader " << leader->leader_address);
  (void)admin->write("sys/mounts/ha-kv", foundation::SecretBytes::copyOf(std::string_view(
                                             R"({"type":"kv","options":{"version":"2"}})")));
  auto put = writeOnceKvIsUpgraded(*admin, "ha-kv/data/probe", R"({"data":{"v":"1"}})");
  REQUIRE_MESSAGE(put.ok(), put.errorMessage());

  // The reader starts on the leader, so its loss is felt.
  std::vector<std::string> ordered{addresses[leader_index]};
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i != leader_index) ordered.push_back(addresses[i]);
  }
  auto reader = clusterClient(ordered, 20);  // retry budget: about 20 s of backoff
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> failures;
  std::chrono::milliseconds slowest{0};
  std::thread loop([&] {
    while (!stop) {
      const auto started = std::chrono::steady_clock::now();
      auto got = reader->readKv2("ha-kv", "probe");
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
      slowest = std::max(slowest, took);
      if (got.ok() && got->data.plainText("v") == "1") {
        ++ok;
      } else {
        failures.push_back(got.ok() ? "wrong value" : got.error().message);
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(2s);
  const int before = ok.load();
  REQUIRE(runScript("stop-node " + std::to_string(leader_index + 1)) == 0);
  std::this_thread::sleep_for(15s);
  stop = true;
  loop.join();
  const auto after = ok.load() - before;
  MESSAGE("reads: " << ok.load() << " ok, " << failures.size()
                    << " failed; after the leader stopped: " << after << " ok; slowest call "
                    << slowest.count() << " ms; the reader now uses "
                    << ordered[reader->currentAddress()]);
  CHECK(failures.empty());
  CHECK(after > 0);
  CHECK(reader->currentAddress() != 0);  // moved off the stopped node

  // The new leader is one of the others.
  auto new_leader = reader->leader();
  REQUIRE(new_leader.ok());
  CHECK(new_leader->leader_address != addresses[leader_index]);
  CHECK(runScript("start-node " + std::to_string(leader_index + 1)) == 0);
}
