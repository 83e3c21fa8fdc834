// Black box: a paused poller is fenced. Two hooklessd on one PostgreSQL, each with its own API key
// so the fake Extend API tells their requests apart. The poller, a, is SIGSTOPped while Extend holds
// its GET of a run that shows FAILED; the run then turns PROCESSED. Past a's lease (TTL 6 s) b takes
// the poller role and records PROCESSED. When a is continued it must send nothing more to Extend
// (its trust deadline, the renewal it sent last + TTL - 1.5 s, passed while it was stopped), its
// stale FAILED must never be written (its term is over: the write is refused), and it must carry on
// as a standby that still takes registrations.
#include "core/model/event_envelope.hpp"
#include "tests/blackbox/cluster_support.hpp"

#include <csignal>
#include <cstdio>

namespace hookless::blackbox {
namespace {

using steady = std::chrono::steady_clock;

const std::string key_a = "sk_test_node_a";
const std::string key_b = "sk_test_node_b";
// The runtime's lease: TTL 6 s, trusted until the renewal was sent + TTL - 1.5 s. The last renewal
// a sent was before the SIGSTOP, so its trust ends at the latest this long after it.
constexpr auto trust_after_stop = 4500ms;

class cluster_fencing_test : public cluster_test {
 protected:
  std::optional<cluster_health> health_of(std::size_t node) const {
    return read_cluster_health(nodes_[node]->socket());
  }

  bool has_role(std::size_t node, const std::string& role) const {
    const auto health = health_of(node);
    return health && health->role == role;
  }

  // Lines of every sink for run `id`, as "<node> <eventType>".
  std::vector<std::string> events_for(const std::string& id) const {
    std::vector<std::string> found;
    for (const auto& node : nodes_) {
      for (const auto& e : events_of(read_json_lines(node->config().events_file), id)) {
        found.push_back(node->config().cluster_node + " " + string_field(e, "eventType"));
      }
    }
    return found;
  }
};

TEST_F(cluster_fencing_test, a_poller_stopped_past_its_lease_sends_nothing_writes_nothing_and_becomes_a_standby) {
  fake_extend_options options;
  options.rate_limit = 10.0;
  options.more_api_keys = {key_a, key_b};
  start_fake(options);
  for (const char* name : {"a", "b"}) {
    auto c = node_config(name);
    c.timeout = "60s";  // a's held GET must complete after SIGCONT, not time out first
    add_node(c);
  }
  auto& a = *nodes_[0];
  auto& b = *nodes_[1];
  ASSERT_TRUE(a.start({{"EXTEND_API_KEY", key_a}}, 20s));
  ASSERT_TRUE(wait_until([&] { return has_role(0, "poller"); }, 20s)) << "a, alone, did not become the poller";
  ASSERT_TRUE(b.start({{"EXTEND_API_KEY", key_b}}, 20s));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto health = health_of(1);
        return health && health->role == "standby" && health->nodes.size() == 2;
      },
      20s))
      << "b did not join as a standby";

  // Runs that stay in progress keep the poller's feed sweeping.
  std::vector<std::string> background;
  for (int i = 0; i < 10; ++i) {
    background.push_back("exr_fence_busy_" + std::to_string(i));
    fake_->add_run({.id = background.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }
  ASSERT_EQ(b.watch(background).status, 201u);

  // The run whose answer a holds while stopped: FAILED when a asks, PROCESSED by the time b does.
  const std::string stale = "exr_fence_stale";
  fake_->add_run({.id = stale, .kind = "", .timeline = {{"FAILED", 0ms}}, .fields = {}});
  fake_->inject({.kind = fault_kind::slow, .run_id = stale, .count = 1, .delay = 3000ms});
  ASSERT_EQ(b.watch({stale}).status, 201u);
  ASSERT_TRUE(wait_until([&] { return fake_->stats().requests_per_run.contains(stale); }, 20s))
      << "the poller never asked for " << stale;
  const auto asked = fake_->stats().requests;
  const auto held_request = std::ranges::find_if(asked, [&](const auto& r) { return r.run_id == stale; });
  ASSERT_NE(held_request, asked.end());
  EXPECT_EQ(held_request->api_key, key_a) << "the poller is a, so a asks";

  ASSERT_TRUE(a.pid());
  ::kill(*a.pid(), SIGSTOP);
  const auto stopped_at = steady::now();
  ASSERT_TRUE(fake_->set_status_now(stale, "PROCESSED"));

  ASSERT_TRUE(wait_until([&] { return has_role(1, "poller"); }, 15s)) << "b did not take the poller role over";
  const auto taken_over = steady::now() - stopped_at;
  // Continued at once: a's heartbeat is not yet old enough (10 s) for b to adopt its home.
  ::kill(*a.pid(), SIGCONT);
  const auto continued_at = steady::now();

  EXPECT_TRUE(wait_until([&] { return has_role(0, "standby"); }, 15s)) << "a, continued, is not a standby";
  EXPECT_TRUE(wait_until([&] { return !events_for(stale).empty(); }, 20s)) << "b never delivered " << stale;
  // A standby still registers; the poller polls the run and a (its home) delivers it.
  const std::string after = "exr_fence_after_resume";
  fake_->add_run({.id = after, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  ASSERT_EQ(a.watch({after}).status, 201u);
  EXPECT_TRUE(wait_until([&] { return !events_for(after).empty(); }, 20s)) << after << " was not delivered";
  std::this_thread::sleep_for(2s);  // time for anything a still meant to send or write

  EXPECT_TRUE(a.running()) << "a fenced poller carries on as a standby; it does not exit";
  EXPECT_TRUE(has_role(0, "standby"));
  EXPECT_TRUE(has_role(1, "poller"));

  // Nothing from a after its trust deadline: its requests all arrived before the stop + the margin.
  const auto stats = fake_->stats();
  std::size_t late = 0;
  std::size_t from_b = 0;
  for (const auto& r : stats.requests) {
    if (r.api_key == key_a && r.at > stopped_at + trust_after_stop) ++late;
    if (r.api_key == key_b) ++from_b;
  }
  EXPECT_EQ(late, 0u) << "a sent requests to Extend after its trust deadline";
  EXPECT_GT(from_b, 0u) << "b polled as the poller";
  EXPECT_EQ(stats.responses_429, 0u);
  EXPECT_LE(stats.max_requests_in_any_second(), 10u);

  // a's stale answer was never written: the run is PROCESSED, one event type, with its eventId.
  const auto stale_events = events_for(stale);
  for (const auto& e : stale_events) EXPECT_EQ(e, "b extract_run.processed") << "a stale write got through";
  for (const auto* node : {&a, &b}) {
    const auto record = node->run(stale);
    ASSERT_TRUE(record);
    EXPECT_EQ(string_field(*record, "outcome"), "processed");
  }
  for (const auto& e : events_of(read_json_lines(b.config().events_file), stale)) {
    EXPECT_EQ(string_field(e, "eventId"), make_event_id(stale, "extract_run.processed"));
  }

  // Whether a tried to write its stale answer (and was refused) or dropped it once its trust had ended.
  const bool refused = a.log().find("run_id=" + stale + " cannot record") != std::string::npos;
  std::printf(
      "[ fencing ] b was the poller %.1f s after a's SIGSTOP; a was continued %.1f s after it; a sent %llu "
      "requests in all, none after its trust deadline; b sent %zu; a's stale answer %s\n",
      std::chrono::duration<double>(taken_over).count(),
      std::chrono::duration<double>(continued_at - stopped_at).count(),
      static_cast<unsigned long long>(stats.api_keys.contains(key_a) ? stats.api_keys.at(key_a) : 0), from_b,
      refused ? "was refused by the database" : "was dropped before any write");
}

}  // namespace
}  // namespace hookless::blackbox
