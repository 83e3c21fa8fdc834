// Local isolation with real users (issue 7), root only: two users in the socket's group and one
// outside it. Members register runs through hooklessctl as themselves; neither can see, wait on
// or delete the other's (404, absent from lists); the outsider is refused by the kernel (EACCES);
// admin_uids see everything; per-user limits (pending runs, requests per second) answer 429 busy.
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/support/test_certs.hpp"

#include <boost/json/parse.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace hookless::blackbox {
namespace {

// Users and a group made for one test and removed at the end, whatever happens.
class local_accounts {
 public:
  local_accounts() {
    std::random_device seed;
    suffix_ = std::to_string(seed() % 1'000'000);
    group = "hlg" + suffix_;
    member_a = "hla" + suffix_;
    member_b = "hlb" + suffix_;
    outsider = "hlo" + suffix_;
    run_ok("/usr/sbin/groupadd", {group});
    run_ok("/usr/sbin/useradd", {"-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", member_a});
    run_ok("/usr/sbin/useradd", {"-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", member_b});
    run_ok("/usr/sbin/useradd", {"-M", "-U", "-s", "/usr/sbin/nologin", outsider});
  }
  ~local_accounts() {
    for (const auto& user : {member_a, member_b, outsider}) run_program("/usr/sbin/userdel", {user});
    run_program("/usr/sbin/groupdel", {group});
  }
  local_accounts(const local_accounts&) = delete;
  local_accounts& operator=(const local_accounts&) = delete;

  static uid_t uid_of(const std::string& user) {
    const passwd* entry = ::getpwnam(user.c_str());
    return entry == nullptr ? static_cast<uid_t>(-1) : entry->pw_uid;
  }
  static gid_t gid_of(const std::string& user) {
    const passwd* entry = ::getpwnam(user.c_str());
    return entry == nullptr ? static_cast<gid_t>(-1) : entry->pw_gid;
  }

  std::string group, member_a, member_b, outsider;

 private:
  static void run_ok(const std::string& program, const std::vector<std::string>& args) {
    const auto result = run_program(program, args);
    if (result.exit_code != 0) throw std::runtime_error(program + " failed: " + result.err);
  }
  std::string suffix_;
};

// connect() to the socket as `user` in a forked child: 0 when accepted, else the errno.
int connect_errno_as(const std::string& user, const fs::path& socket) {
  const uid_t uid = local_accounts::uid_of(user);
  const gid_t gid = local_accounts::gid_of(user);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls in the child of a threaded process.
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(250);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) ::_exit(251);
    ::_exit(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class isolation_test : public blackbox_test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (useradd, runuser)";
    if (!fs::exists("/usr/sbin/useradd") || !fs::exists("/usr/sbin/runuser") || !fs::exists("/usr/bin/curl")) {
      GTEST_SKIP() << "needs useradd, runuser and curl";
    }
    accounts_.emplace();
    // The members must reach the socket's directory and run hooklessctl; the socket itself is 0660.
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
    start_fake();
    auto settings = base_config();
    settings.fast_period = "10m";  // the fake does not know these IDs: keep them pending, not not_found
    std::string text = render_config(settings);
    const std::string mode_line = "  socket_mode: \"0600\"\n";
    const auto at = text.find(mode_line);
    ASSERT_NE(at, std::string::npos) << "render_config changed; update this test";
    text.replace(at, mode_line.size(),
                 "  socket_mode: \"0660\"\n  socket_group: " + accounts_->group +
                     "\n  admin_uids: [0]\n  max_pending_per_user: " + std::to_string(max_pending_per_user_) +
                     "\n  requests_per_second_per_user: 20\n");
    write_text_file(dir_ / "isolated.yaml", text);
    spawn_spec spec;
    spec.program = hooklessd_program();
    spec.args = {"--config", (dir_ / "isolated.yaml").string()};
    spec.env = base_environment();
    spec.env["EXTEND_API_KEY"] = "sk_test_hookless";
    spec.stdout_path = dir_ / "isolated.stdout";
    spec.stderr_path = dir_ / "isolated.stderr";
    daemon_child_.emplace(spec);
    ASSERT_TRUE(wait_until([&] { return !daemon_child_->running() || socket_accepts(socket()); }, 10s));
    ASSERT_TRUE(daemon_child_->running()) << read_file(dir_ / "isolated.stderr");
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- hooklessd log ----\n" << read_file(dir_ / "isolated.stderr") << "\n";
    daemon_child_.reset();
    accounts_.reset();
    blackbox_test::TearDown();
  }

  fs::path socket() const { return dir_ / "hookless.sock"; }

  ctl_result ctl_as(const std::string& user, const std::vector<std::string>& args) {
    std::vector<std::string> full{"-u", user, "--", hooklessctl_program().string(), "--socket", socket().string()};
    full.insert(full.end(), args.begin(), args.end());
    return run_program("/usr/sbin/runuser", full);
  }

  // The HTTP status curl saw for one request as `user`.
  unsigned curl_as(const std::string& user, const std::string& method, const std::string& target) {
    const auto result = run_program(
        "/usr/sbin/runuser", {"-u", user, "--", "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                              method, "--unix-socket", socket().string(), "http://localhost" + target});
    return static_cast<unsigned>(std::strtoul(result.out.c_str(), nullptr, 10));
  }

  // POST /v1/runs as `user` with curl: the answer's body, a newline, and the HTTP status.
  std::string post_runs_as(const std::string& user, const std::string& body) {
    return run_program("/usr/sbin/runuser", {"-u", user, "--", "/usr/bin/curl", "-s", "-w", "\n%{http_code}",
                                             "--unix-socket", socket().string(), "-H", "content-type: application/json",
                                             "-d", body, "http://localhost/v1/runs"})
        .out;
  }

  // The IDs `user` sees in `hooklessctl --json ls --state all`.
  std::set<std::string> listed_by(const std::string& user) {
    const auto result = ctl_as(user, {"--json", "ls", "--state", "all"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::set<std::string> ids;
    std::istringstream lines{result.out};
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      ids.insert(std::string{boost::json::parse(line).at("id").as_string()});
    }
    return ids;
  }

  std::size_t max_pending_per_user_ = 3;
  std::optional<local_accounts> accounts_;
  std::optional<child_process> daemon_child_;
};

TEST_F(isolation_test, users_see_only_their_own_runs_and_the_kernel_keeps_outsiders_out) {
  const auto& a = accounts_->member_a;
  const auto& b = accounts_->member_b;

  // The socket is the group's, mode 0660.
  struct stat info {};
  ASSERT_EQ(::stat(socket().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0660u);
  EXPECT_EQ(info.st_gid, ::getgrnam(accounts_->group.c_str())->gr_gid);

  // Each member registers runs as themselves.
  auto watched = ctl_as(a, {"watch", "exr_iso_a1", "exr_iso_a2"});
  ASSERT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  watched = ctl_as(b, {"watch", "exr_iso_b1"});
  ASSERT_EQ(watched.exit_code, 0) << watched.out << watched.err;

  // Neither sees the other's runs, in lists or one by one.
  EXPECT_EQ(listed_by(a), (std::set<std::string>{"exr_iso_a1", "exr_iso_a2"}));
  EXPECT_EQ(listed_by(b), (std::set<std::string>{"exr_iso_b1"}));
  EXPECT_EQ(ctl_as(a, {"get", "exr_iso_b1"}).exit_code, 1);
  EXPECT_EQ(ctl_as(b, {"get", "exr_iso_a1"}).exit_code, 1);
  EXPECT_EQ(curl_as(a, "GET", "/v1/runs/exr_iso_b1"), 404u);
  EXPECT_EQ(curl_as(b, "GET", "/v1/runs/exr_iso_a2"), 404u);
  EXPECT_EQ(curl_as(a, "GET", "/v1/runs/exr_iso_a1"), 200u);
  EXPECT_EQ(curl_as(a, "GET", "/v1/runs/exr_iso_b1/events"), 404u);

  // Nor wait on them: 404 at once, not when the run finishes.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(curl_as(a, "GET", "/v1/runs/exr_iso_b1?wait=5s"), 404u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_NE(ctl_as(a, {"wait", "exr_iso_b1", "--timeout", "2s"}).exit_code, 0);

  // Nor delete them.
  EXPECT_EQ(ctl_as(a, {"forget", "exr_iso_b1"}).exit_code, 1);
  EXPECT_EQ(curl_as(a, "DELETE", "/v1/runs/exr_iso_b1"), 404u);
  EXPECT_EQ(listed_by(b), (std::set<std::string>{"exr_iso_b1"})) << "b's run must survive a's attempts";

  // An admin (uid 0 here) sees and may change everything.
  EXPECT_EQ(control_request(socket(), "GET", "/v1/runs/exr_iso_b1").status, 200u);
  const auto all = control_request(socket(), "GET", "/v1/runs?state=all").json();
  std::set<std::string> every;
  for (const auto& run : all.at("runs").as_array()) every.insert(std::string{run.at("id").as_string()});
  EXPECT_TRUE(every.contains("exr_iso_a1") && every.contains("exr_iso_a2") && every.contains("exr_iso_b1"));

  // The outsider is refused by the kernel; members are not.
  EXPECT_EQ(connect_errno_as(accounts_->outsider, socket()), EACCES);
  EXPECT_EQ(connect_errno_as(a, socket()), 0);
  EXPECT_EQ(ctl_as(accounts_->outsider, {"health"}).exit_code, 2);
}

TEST_F(isolation_test, registering_another_users_run_is_forbidden_keeps_nothing_and_tells_nothing_of_it) {
  const auto& a = accounts_->member_a;
  const auto& b = accounts_->member_b;
  const auto mine = post_runs_as(a, R"({"id":"exr_taken","context":{"secret":"a-context"},"deadline":"2h"})");
  ASSERT_TRUE(mine.ends_with("\n201")) << mine;
  const auto before = control_request(socket(), "GET", "/v1/runs/exr_taken").json();

  // b may not have it: 403 forbidden, with nothing of a's run in the answer.
  const auto taken = post_runs_as(b, R"({"id":"exr_taken","context":{"from":"b"}})");
  EXPECT_TRUE(taken.ends_with("\n403")) << taken;
  EXPECT_NE(taken.find("\"forbidden\""), std::string::npos) << taken;
  EXPECT_NE(taken.find("exr_taken"), std::string::npos) << "the error names the refused ID: " << taken;
  const std::vector<std::string> hidden_parts{"a-context", "pending", "extract_run", a,
                                              std::to_string(local_accounts::uid_of(a))};
  for (const auto& hidden : hidden_parts) {
    EXPECT_EQ(taken.find(hidden), std::string::npos) << "the answer tells '" << hidden << "': " << taken;
  }

  // In a batch, the whole request is refused and nothing of it is kept, not even b's new runs.
  const auto batch = post_runs_as(b, R"({"runs":[{"id":"exr_b_fresh"},{"id":"exr_taken"},{"id":"exr_b_fresh2"}]})");
  EXPECT_TRUE(batch.ends_with("\n403")) << batch;
  EXPECT_EQ(control_request(socket(), "GET", "/v1/runs/exr_b_fresh").status, 404u)
      << "a refused batch must not be kept";
  EXPECT_EQ(control_request(socket(), "GET", "/v1/runs/exr_b_fresh2").status, 404u);
  EXPECT_EQ(listed_by(b), std::set<std::string>{});
  EXPECT_EQ(curl_as(b, "GET", "/v1/runs/exr_taken"), 404u) << "a refused registration gives no access";

  // a's run is as it was; b's quota (max_pending_per_user: 3) was given back in full.
  const auto after = control_request(socket(), "GET", "/v1/runs/exr_taken").json();
  for (const auto* field : {"registered_at", "deadline_at", "context", "sinks"}) {
    EXPECT_EQ(after.at(field), before.at(field)) << field;
  }
  EXPECT_EQ(listed_by(a), std::set<std::string>{"exr_taken"});
  EXPECT_TRUE(post_runs_as(b, R"({"runs":[{"id":"exr_b_1"},{"id":"exr_b_2"},{"id":"exr_b_3"}]})").ends_with("\n201"));
}

// A batch is refused for another user's ID before any of it is written: its new runs are never
// polled, so no event of theirs can reach a sink. (Checked only after the fact, with a batch this
// large the old way, registering and then forgetting, let hundreds of them be delivered.)
class refused_batch_test : public isolation_test {
 protected:
  refused_batch_test() { max_pending_per_user_ = 10'000; }
};

TEST_F(refused_batch_test, a_refused_batch_delivers_nothing) {
  const auto& a = accounts_->member_a;
  const auto& b = accounts_->member_b;
  ASSERT_TRUE(post_runs_as(a, R"({"id":"exr_owned_by_a"})").ends_with("\n201"));

  constexpr int fresh = 2'000;
  std::string batch = R"({"runs":[)";
  for (int i = 0; i < fresh; ++i) {
    const auto id = "exr_b_refused_" + std::to_string(i);
    fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
    batch += R"({"id":")" + id + R"("},)";
  }
  batch += R"({"id":"exr_owned_by_a"}]})";
  const auto refused = post_runs_as(b, batch);
  ASSERT_TRUE(refused.ends_with("\n403")) << refused.substr(0, 400);

  // A run b registers afterwards is delivered; by then the refused ones would have been too.
  fake_->add_run({.id = "exr_b_after", .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  ASSERT_TRUE(post_runs_as(b, R"({"id":"exr_b_after"})").ends_with("\n201"));
  const auto events_file = dir_ / "events.jsonl";
  ASSERT_TRUE(wait_until([&] { return !events_of(read_json_lines(events_file), "exr_b_after").empty(); }, 15s));

  const auto delivered = read_json_lines(events_file).events;
  EXPECT_EQ(delivered.size(), 1u) << "events of a refused batch reached the file sink";
  for (const auto& event : read_json_lines(dir_ / "isolated.stdout").events) {
    EXPECT_EQ(string_field(object_field(event, "payload"), "id"), "exr_b_after")
        << "an event of a refused batch on stdout";
  }
  const auto stats = fake_->stats();
  for (int i = 0; i < fresh; ++i) {
    const auto id = "exr_b_refused_" + std::to_string(i);
    const auto polls = stats.requests_per_run.find(id);
    ASSERT_TRUE(polls == stats.requests_per_run.end() || polls->second == 0) << id << " was polled";
  }
  EXPECT_EQ(listed_by(b), std::set<std::string>{"exr_b_after"});
}

TEST_F(isolation_test, per_user_limits_answer_429_busy_instead_of_dropping) {
  const auto& a = accounts_->member_a;
  const auto& b = accounts_->member_b;

  // max_pending_per_user: 3. The third run fits, the fourth is refused and not kept.
  ASSERT_EQ(ctl_as(a, {"watch", "exr_lim_1", "exr_lim_2"}).exit_code, 0);
  ASSERT_EQ(ctl_as(a, {"watch", "exr_lim_3"}).exit_code, 0);
  const auto refused = ctl_as(a, {"watch", "exr_lim_4"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  const auto post = post_runs_as(a, R"({"id":"exr_lim_5"})");
  EXPECT_TRUE(post.ends_with("\n429")) << post;
  EXPECT_NE(post.find("\"busy\""), std::string::npos) << post;
  EXPECT_EQ(control_request(socket(), "GET", "/v1/runs/exr_lim_4").status, 404u) << "a refused run must not be kept";
  EXPECT_EQ(control_request(socket(), "GET", "/v1/runs/exr_lim_5").status, 404u);
  // Registering one it already has is not new and still answers.
  EXPECT_EQ(ctl_as(a, {"watch", "exr_lim_1"}).exit_code, 0);
  // Another user's quota is their own; forgetting a run frees a place.
  EXPECT_EQ(ctl_as(b, {"watch", "exr_lim_b"}).exit_code, 0);
  ASSERT_EQ(ctl_as(a, {"forget", "exr_lim_1"}).exit_code, 0);
  EXPECT_EQ(ctl_as(a, {"watch", "exr_lim_4"}).exit_code, 0);

  // requests_per_second_per_user: 20. A burst of 60 on one kept-alive connection (one curl, many
  // URLs) gets some 429s, never anything else.
  std::vector<std::string> burst_args{
      "-u", b, "--", "/usr/bin/curl", "-s", "-w", "%{http_code}\n", "--unix-socket", socket().string()};
  for (int i = 0; i < 60; ++i) {
    burst_args.insert(burst_args.end(), {"-o", "/dev/null", "http://localhost/v1/health"});
  }
  const auto burst = run_program("/usr/sbin/runuser", burst_args, {}, 60s);
  std::map<std::string, int> codes;
  std::istringstream lines{burst.out};
  std::string line;
  while (std::getline(lines, line)) ++codes[line];
  EXPECT_GT(codes["429"], 0) << burst.out;
  EXPECT_GT(codes["200"], 0) << burst.out;
  EXPECT_EQ(codes["429"] + codes["200"], 60) << burst.out;
  // The admin is not limited, and the busy user recovers after a second.
  for (int i = 0; i < 40; ++i) ASSERT_EQ(control_request(socket(), "GET", "/v1/health").status, 200u);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(curl_as(b, "GET", "/v1/health"), 200u);
}

}  // namespace
}  // namespace hookless::blackbox
