// Black box: what hooklessd keeps in memory, read from its VmRSS. A finished run lets go of its
// output at once (with the list endpoints on, its earlier safety-net poll must not keep it), and a
// reload that changes a sink with a backlog frees the old queue's copy of it (the fresh queue loads
// the same deliveries from the store). Sizes: each run's output is 200 kB, so what a leak keeps
// stands far above the allocator's noise.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <fstream>
#include <string>
#include <thread>

namespace hookless::blackbox {
namespace {

constexpr std::size_t output_bytes = 200'000;
constexpr std::int64_t mib = 1 << 20;

// VmRSS of the process, in bytes (0 when it cannot be read).
std::int64_t rss_of(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

class memory_test : public blackbox_test {
 protected:
  // `count` runs of the fake that stay in progress for good.
  std::vector<std::string> add_waiting_runs(int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back("exr_waiting_" + std::to_string(i));
      fake_->add_run({.id = ids.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
    }
    return ids;
  }

  // `count` runs already PROCESSED, each with a 200 kB output.
  std::vector<std::string> add_large_runs(const std::string& prefix, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(prefix + std::to_string(i));
      fake_->add_run({.id = ids.back(), .kind = "", .timeline = {}, .fields = {}, .output_bytes = output_bytes});
    }
    return ids;
  }

  // At 200 requests/s the outputs come a few at a time: what a finished run frees, the next one
  // reuses, and the RSS shows what is kept rather than a burst's peak.
  daemon_config quiet_config() const {
    auto c = base_config();
    c.requests_per_second = 200;
    c.default_sinks = {"out"};  // stdout, which does not sync each event to disk
    c.log_level = "info";
    return c;
  }

  std::int64_t rss() const { return rss_of(*daemon_->pid()); }

  std::uint64_t pending() const { return daemon_->health().at("pending").to_number<std::uint64_t>(); }
  std::size_t backlog(const std::string& sink) const {
    return daemon_->health().at("sinks").at(sink).at("backlog").to_number<std::size_t>();
  }
  // Every run but the waiting ones finished and its event written.
  bool settled(std::size_t waiting) const { return pending() == waiting && backlog("out") == 0; }
};

// 300 runs finishing with 200 kB outputs while 100 wait (lists on, the default): each finished run
// kept by its safety-net entry held its output, 60 MB here. Measured after 170 runs finished
// before, so the store's page cache (up to 32 MiB) is full already and not counted.
TEST_F(memory_test, finished_runs_free_their_outputs) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan keeps freed memory in its quarantine: the RSS tells nothing here";
#endif
  start_fake();
  const auto waiting = add_waiting_runs(100);
  const auto warm_up = add_large_runs("exr_warm_up_", 170);
  const auto large = add_large_runs("exr_large_", 300);
  auto& daemon = make_daemon(quiet_config());
  ASSERT_TRUE(daemon.start());
  ASSERT_EQ(daemon.watch(waiting).status, 201U);
  ASSERT_EQ(daemon.watch(warm_up).status, 201U);
  ASSERT_TRUE(wait_until([&] { return settled(waiting.size()); }, 30s)) << pending();
  const auto before = rss();

  ASSERT_EQ(daemon.watch(large).status, 201U);
  ASSERT_TRUE(wait_until([&] { return settled(waiting.size()); }, 30s)) << pending();
  const auto grown = rss() - before;
  std::cerr << "measured: RSS " << before / mib << " MiB before, grown by " << grown / mib << " MiB after "
            << large.size() << " more runs finished with " << output_bytes / 1000 << " kB outputs\n";
  EXPECT_LT(grown, 20 * mib) << "finished runs keep their outputs in memory";
}

// 100 undone 200 kB deliveries to an http sink that is down, then four reloads that each change
// its timeout: every retired queue kept its copy of the backlog (about 20 MiB each) before.
TEST_F(memory_test, reloads_free_the_backlog_of_the_queues_they_retire) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan keeps freed memory in its quarantine: the RSS tells nothing here";
#endif
  start_fake();
  const auto large = add_large_runs("exr_large_", 100);
  write_text_file(dir_ / "secret", "whsec_memory_test\n");
  auto c = quiet_config();
  // Nothing listens there: every delivery fails at once and waits for its retry.
  c.http_sinks = {{.name = "app",
                   .url = "http://127.0.0.1:" + std::to_string(free_port()) + "/hook",
                   .signing_secret_file = dir_ / "secret",
                   .timeout = "5s"}};
  c.default_sinks = {"app"};
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  ASSERT_EQ(daemon.watch(large).status, 201U);
  ASSERT_TRUE(wait_until([&] { return pending() == 0 && backlog("app") == large.size(); }, 30s)) << backlog("app");
  std::this_thread::sleep_for(500ms);
  const auto before = rss();

  for (int reload = 1; reload <= 4; ++reload) {
    daemon.config().http_sinks[0].timeout = std::to_string(5 + reload) + "s";
    ASSERT_TRUE(daemon.reload()) << "reload " << reload;
    ASSERT_TRUE(wait_until([&] { return backlog("app") == large.size(); }, 10s)) << backlog("app");
  }
  const auto grown = rss() - before;
  std::cerr << "measured: RSS " << before / mib << " MiB before, grown by " << grown / mib
            << " MiB after 4 reloads with " << large.size() << " undone " << output_bytes / 1000 << " kB deliveries\n";
  EXPECT_LT(grown, 35 * mib) << "the retired queues keep their backlog";
}

}  // namespace
}  // namespace hookless::blackbox
