// Black box figures: how fast registrations go through the socket (10,000-run batches and many
// concurrent single registrations, each acknowledged only once durable), and how fast hooklessd is
// ready again after a kill -9 with 100,000 pending runs (health ok, socket accepting, polling),
// with the memory each pending run costs beyond the daemon's baseline. It prints the figures the
// README quotes and checks the promises (ready within 2 s, at most 1 KiB per pending run) with a
// margin for a busy machine.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// The pid of the process serving the Unix socket (SO_PEERCRED of a connection to it).
pid_t server_pid(const fs::path& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  pid_t pid = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0) pid = peer.pid;
  }
  ::close(fd);
  return pid;
}

// Resident memory of a process in bytes (VmRSS), 0 if unknown.
std::uint64_t resident_bytes(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sanitizers and -O0 make the daemon several times slower and bigger: the figures are still
// printed, but the promises are checked on optimized builds only.
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
constexpr bool optimized_build = true;
#else
constexpr bool optimized_build = false;
#endif

class recovery_test : public blackbox_test {};

TEST_F(recovery_test, registrations_per_second_and_ready_with_100k_pending_runs) {
  fake_extend_options options;
  options.auto_runs = true;
  options.auto_finish_after = std::chrono::hours{1};  // every run stays pending
  start_fake(options);
  auto c = base_config();
  c.requests_per_second = 20;
  c.default_sinks = {"archive"};
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  std::this_thread::sleep_for(500ms);
  const auto pid = server_pid(c.socket);
  ASSERT_GT(pid, 0);
  const auto baseline = resident_bytes(pid);

  // 10 batches of 10,000 runs, one after the other.
  constexpr int batches = 10;
  constexpr int batch_size = 10'000;
  const auto batch_start = std::chrono::steady_clock::now();
  for (int b = 0; b < batches; ++b) {
    json::array runs;
    for (int i = 0; i < batch_size; ++i) {
      runs.push_back(json::object{{"id", "exr_recovery_" + std::to_string(b) + "_" + std::to_string(i)}});
    }
    const auto answer =
        control_request(c.socket, "POST", "/v1/runs", json::serialize(json::object{{"runs", runs}}), 60s);
    ASSERT_EQ(answer.status, 201u) << answer.body.substr(0, 500);
  }
  const double batch_seconds = seconds_since(batch_start);

  // Many concurrent clients, one run per request, each request on its own connection.
  constexpr int clients = 16;
  constexpr int per_client = 150;
  std::atomic<int> failures{0};
  const auto single_start = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_client; ++i) {
          const auto id = "exr_single_" + std::to_string(t) + "_" + std::to_string(i);
          try {
            if (control_request(c.socket, "POST", "/v1/runs", json::serialize(json::object{{"id", id}})).status !=
                201) {
              ++failures;
            }
          } catch (const std::exception&) {
            ++failures;
          }
        }
      });
    }
  }
  const double single_seconds = seconds_since(single_start);
  EXPECT_EQ(failures, 0);
  const auto total = static_cast<std::int64_t>(batches * batch_size + clients * per_client);
  EXPECT_EQ(daemon.health().at("pending").as_int64(), total);

  // kill -9, then time the start: ready (health ok, socket accepting) and polling again.
  daemon.kill_now();
  // Requests about the runs: not the start-up check of the API key (GET /workflow_runs).
  const auto run_requests = [&] {
    auto stats = fake_->stats();
    return stats.total_requests - stats.requests_per_path["/workflow_runs"];
  };
  const auto requests_before = run_requests();
  const auto restart = std::chrono::steady_clock::now();
  ASSERT_TRUE(daemon.start({}, 60s));
  const double ready_seconds = seconds_since(restart);
  const bool polling = wait_until([&] { return run_requests() > requests_before; }, 30s, 5ms);
  const double polling_seconds = seconds_since(restart);
  EXPECT_TRUE(polling);
  const auto health = daemon.health();
  EXPECT_EQ(string_field(health, "status"), "ok");
  EXPECT_EQ(health.at("pending").as_int64(), total);
  EXPECT_TRUE(socket_accepts(c.socket));

  std::this_thread::sleep_for(1500ms);  // settled: polls go on at the budget's pace
  const auto loaded = resident_bytes(server_pid(c.socket));
  const double per_run = (static_cast<double>(loaded) - static_cast<double>(baseline)) / static_cast<double>(total);
  EXPECT_EQ(daemon.terminate(), 0);

  std::printf(
      "[ registrations ] %d batches of %d runs: %.0f runs/s (%.2f s); %d concurrent clients x %d single "
      "registrations: %.0f runs/s (%.2f s)\n",
      batches, batch_size, batches * batch_size / batch_seconds, batch_seconds, clients, per_client,
      clients * per_client / single_seconds, single_seconds);
  std::printf(
      "[ recovery ] %lld pending runs after kill -9: ready (health ok, socket accepting) in %.0f ms, first poll "
      "after %.0f ms; RSS %.1f MiB at baseline, %.1f MiB with the runs: %.0f bytes per pending run\n",
      static_cast<long long>(total), ready_seconds * 1000, polling_seconds * 1000,
      static_cast<double>(baseline) / (1 << 20), static_cast<double>(loaded) / (1 << 20), per_run);
  RecordProperty("ready_ms", static_cast<int>(ready_seconds * 1000));
  RecordProperty("bytes_per_pending_run", static_cast<int>(per_run));

  if (optimized_build) {
    // The promise is 2 s on this 2-core machine; the margin absorbs other work running beside us.
    EXPECT_LT(polling_seconds, 4.0) << "ready and polling within 2 s is the promise";
    EXPECT_LE(per_run, 1024.0) << "at most 1 KiB per pending run beyond the baseline";
  }
}

}  // namespace
}  // namespace hookless::blackbox
