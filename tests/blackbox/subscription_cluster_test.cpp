// Black box: a subscription on two daemons sharing one PostgreSQL database. One sweeps (health:
// "ok"), the other stands by ("standby"); runs finish while the test SIGKILLs the sweeping one; the
// other takes the sweep over from the shared position. Then every subscribed run reached one of the
// daemons' file sinks, none of the history or of the kind no subscription names, no run and event
// type under two eventIds, and the fake (10 requests/s) answered no 429.
#include "tests/blackbox/cluster_support.hpp"
#include "tests/blackbox/subscription_support.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <random>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

class subscription_cluster_test : public cluster_test {
 protected:
  void add_planned(std::vector<scripted_run> runs) { add_scripted_runs(*fake_, plan_, std::move(runs)); }

  std::vector<fs::path> sink_files() const {
    std::vector<fs::path> files;
    for (const auto& node : nodes_) files.push_back(node->config().events_file);
    return files;
  }

  subscription_delivery_check check_now(std::vector<std::string>* bad_lines = nullptr) const {
    const auto files = sink_files();
    return check_subscription_deliveries(read_sink_events(files, bad_lines), plan_, files.size(), false);
  }

  std::string state_on(std::size_t node, const std::string& kind) const {
    try {
      return subscription_state(nodes_[node]->health(), "all", kind);
    } catch (const std::exception&) {
      return {};
    }
  }

  bool node_states(std::size_t node, const std::string& state) const {
    return state_on(node, "extract_run") == state && state_on(node, "workflow_run") == state;
  }

  std::string health_texts() const {
    std::string text;
    for (const auto& node : nodes_) {
      text += node->config().cluster_node + ": ";
      try {
        text += json::serialize(node->health());
      } catch (const std::exception& e) {
        text += std::string{"(no health: "} + e.what() + ")";
      }
      text += "\n";
    }
    return text;
  }

  std::map<std::string, expected_run> plan_;
};

TEST_F(subscription_cluster_test, the_standby_takes_the_sweep_over_and_no_run_gets_two_event_ids) {
  const auto test_started = std::chrono::steady_clock::now();
  fake_extend_options options;
  options.rate_limit = 10.0;
  start_fake(options);
  std::mt19937 random{17};
  {
    std::vector<scripted_run> history;
    for (int i = 0; i < 10; ++i) {
      history.push_back(script_run("exr_chist_" + std::to_string(i), "extract_run", "PROCESSED", 0ms, 0ms, false));
    }
    add_planned(std::move(history));
  }
  std::this_thread::sleep_for(1200ms);

  for (const char* name : {"a", "b"}) {
    auto c = node_config(name);
    c.fast_interval = "1s";
    c.max_interval = "5s";
    c.subscriptions = {{.name = "all", .kinds = {"extract_run", "workflow_run"}}};
    ASSERT_TRUE(add_node(c).start({}, 30s));
  }
  std::optional<std::size_t> poller;
  ASSERT_TRUE(wait_until(
      [&] {
        poller = poller_index({0, 1});
        return poller && node_states(*poller, "ok") && node_states(1 - *poller, "standby");
      },
      30s, 200ms))
      << "one daemon sweeps (ok), the other stands by (standby); health:\n"
      << health_texts();

  // 120 runs appearing over 20 s and finishing 2 to 12 s later; 10 of them classify runs.
  const auto added = std::chrono::steady_clock::now();
  {
    std::vector<scripted_run> runs;
    for (int i = 0; i < 120; ++i) {
      const auto appear = std::chrono::milliseconds{random() % 20'000};
      const auto finish = appear + std::chrono::milliseconds{2'000 + random() % 10'000};
      if (i % 12 == 11) {
        runs.push_back(script_run("clr_cl_" + std::to_string(i), "classify_run", "PROCESSED", appear, finish, false));
      } else if (i % 3 == 2) {
        runs.push_back(script_run("workflow_run_cl_" + std::to_string(i), "workflow_run",
                                  i % 4 == 0 ? "REVIEW" : "PROCESSED", appear, finish, true));
      } else {
        runs.push_back(script_run("exr_cl_" + std::to_string(i), "extract_run", i % 5 == 4 ? "FAILED" : "PROCESSED",
                                  appear, finish, true));
      }
    }
    add_planned(std::move(runs));
  }

  std::this_thread::sleep_until(added + 8s);
  const auto victim = *poller;
  const auto survivor = 1 - victim;
  nodes_[victim]->kill_now();
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return poller_index({survivor}) && node_states(survivor, "ok"); }, 40s, 200ms))
      << "the survivor did not take the sweep over; health:\n"
      << health_texts();
  const double takeover = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  std::this_thread::sleep_until(killed + 10s);
  ASSERT_TRUE(nodes_[victim]->start({}, 30s));

  const bool everything = wait_until([&] { return check_now().complete(); }, 90s, 500ms);
  std::this_thread::sleep_for(3s);
  std::vector<std::string> bad_lines;
  const auto check = check_now(&bad_lines);
  EXPECT_TRUE(everything) << check.summary();
  EXPECT_TRUE(check.missing.empty()) << check.summary();
  EXPECT_TRUE(check.unexpected.empty()) << "history, classify runs or events not due: " << check.summary();
  EXPECT_TRUE(check.unstable_ids.empty()) << check.summary();
  EXPECT_TRUE(check.out_of_order.empty()) << check.summary();
  EXPECT_TRUE(bad_lines.empty()) << bad_lines.size() << " torn lines";

  const auto stats = fake_->stats();
  EXPECT_EQ(stats.responses_429, 0u) << "max requests in any second: " << stats.max_requests_in_any_second();
  std::size_t finished = 0;
  for (const auto& [id, run] : plan_) finished += run.required.empty() ? 0U : 1U;
  std::printf(
      "[ subscription cluster ] %zu subscribed runs finished; the survivor swept %.1f s after the kill; %s; %llu "
      "requests (%.2f per finished run), 429s: %llu; whole test %.1f s\n",
      finished, takeover, check.summary().c_str(), static_cast<unsigned long long>(stats.total_requests),
      static_cast<double>(stats.total_requests) / static_cast<double>(finished),
      static_cast<unsigned long long>(stats.responses_429),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - test_started).count());
  std::printf("[ subscription cluster ] health at the end:\n%s", health_texts().c_str());
}

}  // namespace
}  // namespace hookless::blackbox
