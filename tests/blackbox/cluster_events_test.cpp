// Black box: the live event stream on a daemon that is not the poller. Two hooklessd on one
// PostgreSQL: a (the poller) and b (a standby, which makes no events itself). Followers on b connect
// before anything of the batch happens: `hooklessctl events --follow` as root (an admin) and the same
// as a uid of no account (not an admin, through setpriv). Runs are registered on both daemons, by
// root and by that uid: workflows (needs_review, then completed) and extract runs. The admin
// follower must receive every event exactly once, in order per run, and the other uid's follower
// exactly the events of its own runs; b must still be the standby then, so every event came to it
// through its relay (the poller's events read from the database). Then a stops (SIGTERM: it gives
// the lease up) and b becomes the poller: its relay stops and its tracker publishes, so the events
// of runs registered afterwards reach the same followers once each, not twice.
#include "tests/blackbox/cluster_support.hpp"

#include <boost/json/parse.hpp>

#include <map>
#include <set>
#include <utility>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

constexpr uid_t relay_test_uid = 61'234;  // no account: setpriv needs none, and nobody else has it

const fs::path setpriv_program = "/usr/bin/setpriv";  // util-linux, in every Debian

// Run ID -> its event types, in the order the stream printed them.
std::map<std::string, std::vector<std::string>> relay_test_events(const fs::path& printed) {
  std::map<std::string, std::vector<std::string>> seen;
  for (const auto& line : text_lines(read_file(printed))) {
    const auto value = json::parse(line).as_object();
    if (value.contains("error")) {
      ADD_FAILURE() << "the stream said: " << line;
      continue;
    }
    seen[string_field(object_field(value, "payload"), "id")].push_back(string_field(value, "eventType"));
  }
  return seen;
}

std::size_t relay_test_count(const std::map<std::string, std::vector<std::string>>& events) {
  std::size_t count = 0;
  for (const auto& [id, types] : events) count += types.size();
  return count;
}

class cluster_events_test : public cluster_test {
 protected:
  bool has_role(std::size_t node, const std::string& role) const {
    const auto health = read_cluster_health(nodes_[node]->socket());
    return health && health->role == role;
  }

  // The socket and its folders open to the other uid (the daemon made the socket 0600).
  void open_to_everyone(const daemon_process& node) const {
    const auto traversable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec;
    fs::permissions(dir_.path(), traversable);
    fs::permissions(node.socket().parent_path(), traversable);
    fs::permissions(node.socket(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                       fs::perms::group_write | fs::perms::others_read | fs::perms::others_write);
  }

  // setpriv's arguments that make hooklessctl run as relay_test_uid, then hooklessctl's.
  static std::vector<std::string> as_other_uid(const fs::path& socket, const std::vector<std::string>& args) {
    std::vector<std::string> all{"--reuid=" + std::to_string(relay_test_uid),
                                 "--regid=" + std::to_string(relay_test_uid),
                                 "--clear-groups",
                                 hooklessctl_program().string(),
                                 "--socket",
                                 socket.string()};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  void watch_as_other_uid(const daemon_process& node, const std::vector<std::string>& ids) const {
    std::vector<std::string> args{"watch"};
    args.insert(args.end(), ids.begin(), ids.end());
    const auto result = run_program(setpriv_program, as_other_uid(node.socket(), args));
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }

  child_process follow(const daemon_process& node, bool as_other, const fs::path& out) const {
    spawn_spec spec;
    if (as_other) {
      spec.program = setpriv_program;
      spec.args = as_other_uid(node.socket(), {"events", "--follow"});
    } else {
      spec.program = hooklessctl_program();
      spec.args = {"--socket", node.socket().string(), "events", "--follow"};
    }
    spec.env = base_environment();
    spec.stdout_path = out;
    spec.stderr_path = out.string() + ".err";
    return child_process{spec};
  }

  // A run on the fake: a workflow shows NEEDS_REVIEW for 3 s before it completes, an extract run
  // finishes; both some time after registration, spread by `i`. Returns its expected events.
  std::vector<std::string> add_run(const std::string& id, std::size_t i) {
    const auto step = std::chrono::milliseconds{static_cast<std::int64_t>(150 * i)};
    if (id.starts_with("workflow_run_")) {
      fake_->add_run({.id = id,
                      .kind = "",
                      .timeline = {{"PENDING", 0ms}, {"NEEDS_REVIEW", 2000ms + step}, {"PROCESSED", 5000ms + step}},
                      .fields = {}});
      return {"workflow_run.needs_review", "workflow_run.completed"};
    }
    fake_->add_run(
        {.id = id, .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", 2000ms + step}}, .fields = {}});
    return {"extract_run.processed"};
  }
};

TEST_F(cluster_events_test, followers_of_a_standby_get_every_new_event_and_only_their_own) {
  ASSERT_TRUE(fs::exists(setpriv_program)) << "needs setpriv (util-linux) to run hooklessctl as another uid";
  ASSERT_EQ(::geteuid(), 0u) << "needs root to run hooklessctl as another uid";
  start_fake({});
  for (const char* name : {"a", "b"}) {
    auto c = node_config(name);
    c.requests_per_second = 50;
    add_node(c);
  }
  auto& a = *nodes_[0];
  auto& b = *nodes_[1];
  ASSERT_TRUE(a.start({}, 20s));
  ASSERT_TRUE(wait_until([&] { return has_role(0, "poller"); }, 20s)) << "a, alone, did not become the poller";
  ASSERT_TRUE(b.start({}, 20s));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto health = read_cluster_health(b.socket());
        return health && health->role == "standby" && health->nodes.size() == 2;
      },
      20s))
      << "b did not join as a standby";
  open_to_everyone(a);
  open_to_everyone(b);

  std::map<std::string, std::vector<std::string>> expected_all;
  std::map<std::string, std::vector<std::string>> expected_other;

  // The followers on b. One early run each (root's and the other uid's, registered on a) shows each
  // follower connected: its event is one of the recent ones or comes live, and everything after it
  // can only come live, through b's relay.
  const auto admin_out = dir_ / "admin-follow.out";
  const auto other_out = dir_ / "other-follow.out";
  auto admin_follower = follow(b, false, admin_out);
  auto other_follower = follow(b, true, other_out);
  expected_all["exr_rl_early_root"] = add_run("exr_rl_early_root", 0);
  expected_all["exr_rl_early_other"] = expected_other["exr_rl_early_other"] = add_run("exr_rl_early_other", 0);
  ASSERT_EQ(a.watch({"exr_rl_early_root"}).status, 201u);
  watch_as_other_uid(a, {"exr_rl_early_other"});
  ASSERT_TRUE(wait_until([&] { return relay_test_count(relay_test_events(admin_out)) >= 2; }, 30s))
      << read_file(admin_out) << read_file(admin_out.string() + ".err");
  ASSERT_TRUE(wait_until([&] { return relay_test_count(relay_test_events(other_out)) >= 1; }, 30s))
      << read_file(other_out) << read_file(other_out.string() + ".err");

  // The batch: root's runs on a and b, the other uid's on b and a.
  std::vector<std::string> root_on_a, root_on_b, other_on_a, other_on_b;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto n = std::to_string(i);
    for (auto* ids : {&root_on_a, &other_on_b}) {
      const std::string who = ids == &root_on_a ? "root_a_" : "other_b_";
      ids->push_back("workflow_run_rl_" + who + n);
      ids->push_back("exr_rl_" + who + n);
    }
  }
  root_on_b = {"exr_rl_root_b_0", "workflow_run_rl_root_b_1"};
  other_on_a = {"exr_rl_other_a_0", "workflow_run_rl_other_a_1"};
  std::size_t spread = 0;
  for (const auto* ids : {&root_on_a, &root_on_b}) {
    for (const auto& id : *ids) expected_all[id] = add_run(id, spread++);
  }
  for (const auto* ids : {&other_on_a, &other_on_b}) {
    for (const auto& id : *ids) expected_all[id] = expected_other[id] = add_run(id, spread++);
  }
  ASSERT_EQ(a.watch(root_on_a).status, 201u);
  ASSERT_EQ(b.watch(root_on_b).status, 201u);
  watch_as_other_uid(b, other_on_b);
  watch_as_other_uid(a, other_on_a);

  const auto all_count = relay_test_count(expected_all);
  const auto other_count = relay_test_count(expected_other);
  EXPECT_TRUE(wait_until([&] { return relay_test_count(relay_test_events(admin_out)) >= all_count; }, 60s))
      << relay_test_count(relay_test_events(admin_out)) << " of " << all_count;
  EXPECT_TRUE(wait_until([&] { return relay_test_count(relay_test_events(other_out)) >= other_count; }, 20s))
      << relay_test_count(relay_test_events(other_out)) << " of " << other_count;
  std::this_thread::sleep_for(1s);  // anything extra (a duplicate) would arrive by now

  EXPECT_EQ(relay_test_events(admin_out), expected_all) << "the admin: every event once, in order per run";
  EXPECT_EQ(relay_test_events(other_out), expected_other) << "another uid: its own runs' events only";
  EXPECT_TRUE(has_role(1, "standby")) << "b became the poller meanwhile: its own tracker published some events";
  EXPECT_TRUE(has_role(0, "poller"));
  EXPECT_TRUE(admin_follower.running()) << read_file(admin_out.string() + ".err");
  EXPECT_TRUE(other_follower.running()) << read_file(other_out.string() + ".err");

  // a stops; b, the poller now, publishes through its tracker alone.
  ASSERT_EQ(a.terminate(), 0);
  ASSERT_TRUE(wait_until([&] { return has_role(1, "poller"); }, 20s)) << "b did not take the poller role over";
  const std::vector<std::string> root_after{"exr_rl_root_after_0", "workflow_run_rl_root_after_1"};
  const std::vector<std::string> other_after{"exr_rl_other_after_0", "workflow_run_rl_other_after_1"};
  for (const auto& id : root_after) expected_all[id] = add_run(id, spread++);
  for (const auto& id : other_after) expected_all[id] = expected_other[id] = add_run(id, spread++);
  ASSERT_EQ(b.watch(root_after).status, 201u);
  watch_as_other_uid(b, other_after);
  EXPECT_TRUE(
      wait_until([&] { return relay_test_count(relay_test_events(admin_out)) >= relay_test_count(expected_all); }, 60s))
      << relay_test_count(relay_test_events(admin_out)) << " of " << relay_test_count(expected_all);
  EXPECT_TRUE(wait_until(
      [&] { return relay_test_count(relay_test_events(other_out)) >= relay_test_count(expected_other); }, 20s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(relay_test_events(admin_out), expected_all) << "after the failover: every event once";
  EXPECT_EQ(relay_test_events(other_out), expected_other);
  EXPECT_TRUE(has_role(1, "poller"));
  EXPECT_EQ(b.log().find("live events: cannot read"), std::string::npos);
}

}  // namespace
}  // namespace hookless::blackbox
