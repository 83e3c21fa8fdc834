// Black box: when hooklessd looks at a run. A step of the system clock (made in hooklessd alone,
// through an LD_PRELOAD shim) delays no poll and expires no run early; a run that finished just
// before its deadline is delivered as finished (it gets a last look at the deadline), and one that
// cannot be asked then expires max_interval later, saying why; after an outage that outlasted the
// catch-up's clock-skew margin, a restart still finds the runs that finished during it at once.
#include "core/formats/timestamp.hpp"
#include "tests/blackbox/blackbox_fixture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// The shift of hooklessd's system clock, in the file its LD_PRELOAD shim maps (see
// clock_shift_preload.cpp). Written in place, never truncated: the daemon reads it at any time.
class clock_shift {
 public:
  explicit clock_shift(fs::path file) : file_(std::move(file)) { set(std::chrono::nanoseconds{0}); }

  void set(std::chrono::nanoseconds shift) const {
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << file_;
    const std::int64_t value = shift.count();
    EXPECT_EQ(::pwrite(fd, &value, sizeof value, 0), static_cast<ssize_t>(sizeof value));
    ::close(fd);
  }

  // The environment that loads the shim into hooklessd.
  std::map<std::string, std::string> env() const {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {{"LD_PRELOAD", HOOKLESS_CLOCK_SHIFT_LIB},
            {"HOOKLESS_CLOCK_SHIFT_FILE", file_.string()},
            // The shim comes before the sanitizer runtime in the library list.
            {"ASAN_OPTIONS", std::string{asan != nullptr ? asan : ""} + ":verify_asan_link_order=0"}};
  }

 private:
  fs::path file_;
};

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

std::uint64_t gets_of(const fake_extend_stats& stats, const std::string& run_id) {
  const auto found = stats.requests_per_path.find("/extract_runs/" + run_id);
  return found == stats.requests_per_path.end() ? 0 : found->second;
}

class schedule_test : public blackbox_test {
 protected:
  // Per-run polling every 100 ms.
  daemon_config polling_config() const {
    auto c = base_config();
    c.list_endpoints = false;
    c.jitter = 0;
    return c;
  }

  void add_processing_run(const std::string& id) {
    fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }

  // The run's one event in the file sink, once there (waiting up to `limit`).
  std::optional<json::object> event_of(const std::string& id, milliseconds limit) const {
    std::optional<json::object> found;
    wait_until(
        [&] {
          const auto events = events_of(file_events(), id);
          if (!events.empty()) found = events.front();
          return found.has_value();
        },
        limit);
    return found;
  }
};

// The system clock steps back an hour (NTP correcting a clock that ran ahead) while a run is
// polled: its next poll still comes a fast_interval later, not an hour later, so its finish is
// found at once. Events still carry the (stepped) wall-clock time.
TEST_F(schedule_test, a_backward_step_of_the_system_clock_delays_no_poll) {
  start_fake();
  const clock_shift shift{dir_ / "clock-shift"};
  auto& daemon = make_daemon(polling_config());
  ASSERT_TRUE(daemon.start(shift.env()));
  add_processing_run("exr_step_back");
  ASSERT_EQ(daemon.watch({"exr_step_back"}).status, 201u);
  ASSERT_TRUE(wait_until([&] { return gets_of(fake_->stats(), "exr_step_back") >= 2; }, 5s));

  shift.set(-std::chrono::hours{1});
  std::this_thread::sleep_for(300ms);  // the polls due meanwhile were planned before the step
  fake_->set_status_now("exr_step_back", "PROCESSED");
  const auto event = event_of("exr_step_back", 5s);
  ASSERT_TRUE(event) << "the run was not polled after the clock stepped back";
  EXPECT_EQ(string_field(*event, "eventType"), "extract_run.processed");
  const auto detected = parse_time(string_field(object_field(*event, "hookless"), "detectedAt"));
  ASSERT_TRUE(detected);
  const auto behind = std::chrono::system_clock::now() - *detected;
  EXPECT_GT(behind, 59min) << "the shim did not step hooklessd's clock";
  EXPECT_LT(behind, 61min);
}

// The system clock steps forward two hours: a run with a one-hour deadline is not expired early,
// and it is still polled every fast_interval (its fast period counts on the monotonic clock too).
TEST_F(schedule_test, a_forward_step_of_the_system_clock_expires_no_run_early) {
  start_fake();
  const clock_shift shift{dir_ / "clock-shift"};
  auto c = polling_config();
  c.fast_period = "30s";
  c.max_interval = "5s";
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start(shift.env()));
  add_processing_run("exr_step_ahead");
  ASSERT_EQ(daemon.register_runs(json::array{json::object{{"id", "exr_step_ahead"}, {"deadline", "1h"}}}).status, 201u);
  ASSERT_TRUE(wait_until([&] { return gets_of(fake_->stats(), "exr_step_ahead") >= 2; }, 5s));

  shift.set(std::chrono::hours{2});
  const auto polls_at_step = gets_of(fake_->stats(), "exr_step_ahead");
  EXPECT_TRUE(wait_until([&] { return gets_of(fake_->stats(), "exr_step_ahead") >= polls_at_step + 5; }, 2s))
      << "not polled every 100 ms any more";
  EXPECT_EQ(file_event_count(), 0u) << "no event: the run is not expired";
  EXPECT_EQ(string_field(*daemon.run("exr_step_ahead"), "state"), "pending");
}

// Polls at 0 s and 1 s see the run in progress; it finishes at 1.3 s; its deadline is 1.6 s: the
// last look at the deadline finds it finished, and it is delivered as processed, not expired.
TEST_F(schedule_test, a_run_that_finished_just_before_its_deadline_is_delivered_as_finished) {
  start_fake();
  auto c = polling_config();
  c.fast_interval = "1s";
  c.max_interval = "1s";
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  fake_->add_run(
      {.id = "exr_just_in_time", .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", 1300ms}}, .fields = {}});
  ASSERT_EQ(daemon.register_runs(json::array{json::object{{"id", "exr_just_in_time"}, {"deadline", "1600ms"}}}).status,
            201u);
  const auto event = event_of("exr_just_in_time", 10s);
  ASSERT_TRUE(event);
  EXPECT_EQ(string_field(*event, "eventType"), "extract_run.processed");
  EXPECT_EQ(gets_of(fake_->stats(), "exr_just_in_time"), 3u) << "polled at 0 s, 1 s and at the deadline";
  EXPECT_EQ(events_of(file_events(), "exr_just_in_time").size(), 1u);
}

// Extend answers 500 for the run from before its deadline on: it is retried after the deadline and
// expires max_interval (1 s) past it, with the failure as the reason.
TEST_F(schedule_test, a_run_that_cannot_be_asked_at_its_deadline_expires_max_interval_later) {
  start_fake();
  auto& daemon = make_daemon(polling_config());
  ASSERT_TRUE(daemon.start());
  add_processing_run("exr_unaskable");
  fake_->inject({.kind = fault_kind::status_500, .run_id = "exr_unaskable", .count = std::nullopt, .delay = 0ms});
  const auto registered = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon.register_runs(json::array{json::object{{"id", "exr_unaskable"}, {"deadline", "1s"}}}).status, 201u);
  const auto event = event_of("exr_unaskable", 10s);
  ASSERT_TRUE(event);
  const auto took = std::chrono::steady_clock::now() - registered;
  EXPECT_EQ(string_field(*event, "eventType"), "run.expired");
  EXPECT_GE(took, 1900ms) << "expired only once the retries past the deadline failed for max_interval";
  EXPECT_LT(took, 4s);
  const auto reason = string_field(object_field(*event, "payload"), "reason");
  EXPECT_NE(reason.find("deadline passed; Extend could not be asked since"), std::string::npos) << reason;
  EXPECT_NE(reason.find("500"), std::string::npos) << reason;
}

// A run followed through the list finishes during an outage (every request answers 500) that lasts
// ten minutes (both clocks advanced), while two thousand other runs change: failed polls keep
// touching the run's updated_at. After a restart the catch-up sweep reads back to the run's last
// successful look and finds it at once; reading back only to updated_at less the 5-minute skew
// margin would stop among the newer changes, and every later sweep too, leaving the run to the
// safety-net poll (5 minutes or more).
TEST_F(schedule_test, a_restart_after_a_long_outage_catches_up_from_the_last_successful_look) {
  start_fake();
  const clock_shift shift{dir_ / "clock-shift"};
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start(shift.env()));
  add_processing_run("exr_outage");
  ASSERT_EQ(daemon.watch({"exr_outage"}).status, 201u);
  ASSERT_TRUE(wait_until([&] { return string_field(*daemon.run("exr_outage"), "status") == "PROCESSING"; }, 10s));
  std::this_thread::sleep_for(1500ms);  // the progress flush (every second) stores the last look

  fake_->inject({.kind = fault_kind::status_500, .run_id = std::nullopt, .count = std::nullopt, .delay = 0ms});
  fake_->set_status_now("exr_outage", "PROCESSED");
  // Other runs of the workspace change meanwhile, in two blocks of more than a page each, 30 s and
  // 60 s later (beyond the feed's 5 s overlap); ten minutes after the finish the outage ends.
  const auto others_change = [&](const std::string& prefix) {
    std::vector<run_script> others;
    for (int i = 0; i < 1'050; ++i) {
      others.push_back({.id = prefix + std::to_string(i), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
    }
    fake_->add_runs(std::move(others));
  };
  fake_->advance_clock(30s);
  others_change("exr_older_");
  fake_->advance_clock(30s);
  others_change("exr_newer_");
  fake_->advance_clock(9min);
  shift.set(10min);
  // Polled one by one once three sweeps failed; each failed poll touches updated_at.
  const std::string failed_poll = "run_id=exr_outage poll failed";
  ASSERT_TRUE(wait_until([&] { return occurrences(daemon.log(), failed_poll) >= 2; }, 10s));
  std::this_thread::sleep_for(1500ms);  // stored by the progress flush
  ASSERT_EQ(daemon.terminate(), 0);
  EXPECT_EQ(file_event_count(), 0u);

  fake_->clear_faults();
  ASSERT_TRUE(daemon.start(shift.env()));
  const auto event = event_of("exr_outage", 5s);
  ASSERT_TRUE(event) << "not found by the catch-up sweep";
  EXPECT_EQ(string_field(*event, "eventType"), "extract_run.processed");
}

}  // namespace
}  // namespace hookless::blackbox
