// Unit tests of running as a service, without processes or sockets: the Prometheus writer (read
// back by an independent checker), JSON log fields, reload planning, systemd status and timing,
// giving free heap memory back.
#include "daemon/service/heap_trim.hpp"
#include "daemon/service/logging.hpp"
#include "daemon/service/prometheus_text.hpp"
#include "daemon/service/reload_plan.hpp"
#include "daemon/service/service_metrics.hpp"
#include "daemon/service/service_notify.hpp"
#include "tests/service/prometheus_check.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace hookless {
namespace {

using metrics_check::parse_prometheus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(prometheus_writer, histogram_round_trips_through_the_checker) {
  latency_histogram h{{0.1, 1, 0.5}};  // given out of order: sorted
  h.observe(0.05);
  h.observe(0.3);
  h.observe(0.3);
  h.observe(7);
  prometheus_writer out;
  out.histogram("x_seconds", "Some latency.", h);
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty()) << out.text();
  EXPECT_EQ(parsed.types.at("x_seconds"), "histogram");
  EXPECT_EQ(parsed.value("x_seconds_bucket", {{"le", "0.1"}}), 1);
  EXPECT_EQ(parsed.value("x_seconds_bucket", {{"le", "0.5"}}), 3);
  EXPECT_EQ(parsed.value("x_seconds_bucket", {{"le", "1"}}), 3);
  EXPECT_EQ(parsed.value("x_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(parsed.value("x_seconds_count"), 4);
  EXPECT_NEAR(parsed.value("x_seconds_sum").value(), 7.65, 1e-9);
}

TEST(prometheus_writer, escapes_label_values_and_help) {
  prometheus_writer out;
  out.family("y_total", "counter", "Help with a \\ backslash\nand a newline.");
  out.sample("y_total", {{"sink", "we\"ird\\name\nx"}}, 3);
  out.sample("y_total", {{"sink", "plain"}}, 0.25);
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty()) << out.text();
  EXPECT_EQ(parsed.value("y_total", {{"sink", "we\"ird\\name\nx"}}), 3);
  EXPECT_EQ(parsed.value("y_total", {{"sink", "plain"}}), 0.25);
  EXPECT_EQ(out.text().find("\nand"), std::string::npos);  // the HELP newline is escaped
}

TEST(prometheus_check, refuses_what_a_scraper_refuses) {
  EXPECT_FALSE(parse_prometheus("a_total 1\n").problems.empty());                     // no TYPE
  EXPECT_FALSE(parse_prometheus("# TYPE a counter\na{x=\"1} 1\n").problems.empty());  // open quote
  EXPECT_FALSE(parse_prometheus("# TYPE a counter\na one\n").problems.empty());       // not a number
  EXPECT_FALSE(parse_prometheus("# TYPE a counter\n1a 1\n").problems.empty());        // bad name
  EXPECT_FALSE(parse_prometheus("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                "h_sum 1\nh_count 1\n")
                   .problems.empty());  // not cumulative
  EXPECT_FALSE(parse_prometheus("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n")
                   .problems.empty());  // +Inf != count
  EXPECT_TRUE(parse_prometheus("# HELP a A.\n# TYPE a gauge\na{k=\"v\",j=\"w\"} -1.5e3\n").problems.empty());
}

TEST(log_fields, lifts_key_value_words_out_of_messages) {
  EXPECT_THAT(message_fields("run_id=exr_1 event_id=event_ab event_type=extract_run.processed polls=3"),
              ElementsAre(Pair("run_id", "exr_1"), Pair("event_id", "event_ab"),
                          Pair("event_type", "extract_run.processed"), Pair("polls", "3")));
  EXPECT_THAT(message_fields("delivery failed event_id=e1 run_id=r1 sink=app attempt=2 retry_in=500ms: timeout"),
              ElementsAre(Pair("event_id", "e1"), Pair("run_id", "r1"), Pair("sink", "app"), Pair("attempt", "2"),
                          Pair("retry_in", "500ms")));
  // Prose, URLs with query strings and reserved keys are not fields.
  EXPECT_THAT(message_fields("reaching https://x/?a=b through a proxy"), IsEmpty());
  EXPECT_THAT(message_fields("level=warn message=hi time=now"), IsEmpty());
  EXPECT_THAT(message_fields("run_id=a run_id=b"), ElementsAre(Pair("run_id", "a")));
  EXPECT_THAT(message_fields("Key=x =y k="), IsEmpty());
}

// One log line as the formatter writes it (without its newline).
std::string formatted_line(log_format format, bool journal, spdlog::level::level_enum level, std::string_view text) {
  const auto formatter = make_log_formatter(format, journal);
  spdlog::memory_buf_t out;
  formatter->format(spdlog::details::log_msg{"hooklessd", level, text}, out);
  std::string line{out.data(), out.size()};
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

TEST(journal_logs, each_line_starts_with_its_syslog_priority_and_has_no_time) {
  using spdlog::level::level_enum;
  const std::vector<std::pair<level_enum, std::string>> levels{
      {level_enum::trace, "<7>trace "},  {level_enum::debug, "<7>debug "}, {level_enum::info, "<6>info "},
      {level_enum::warn, "<4>warning "}, {level_enum::err, "<3>error "},   {level_enum::critical, "<3>critical "}};
  for (const auto& [level, start] : levels) {
    EXPECT_EQ(formatted_line(log_format::text, true, level, "run_id=exr_1 polled"), start + "run_id=exr_1 polled");
  }
  // Outside journald: a time first, no priority.
  const auto plain = formatted_line(log_format::text, false, level_enum::warn, "hi");
  EXPECT_THAT(plain, ::testing::MatchesRegex("20[0-9-]+T[0-9:.]+Z warning hi"));

  // JSON: the priority before the object, no "time" (journald stamps the line).
  EXPECT_EQ(formatted_line(log_format::json, true, level_enum::err, "run_id=exr_1 failed"),
            R"(<3>{"level":"error","message":"run_id=exr_1 failed","run_id":"exr_1"})");
  EXPECT_THAT(formatted_line(log_format::json, false, level_enum::info, "x"),
              ::testing::MatchesRegex(R"(\{"time":"20[0-9-]+T[0-9:.]+Z","level":"info","message":"x"\})"));
}

TEST(journal_logs, journal_stream_must_name_the_very_file) {
  EXPECT_TRUE(journal_stream_names("8:12345", 8, 12345));
  EXPECT_TRUE(journal_stream_names("2049:18446744073709551615", 2049, static_cast<ino_t>(18446744073709551615ULL)));
  EXPECT_FALSE(journal_stream_names("8:12346", 8, 12345));
  EXPECT_FALSE(journal_stream_names("9:12345", 8, 12345));
  for (const char* bad : {"", ":", "8:", ":12345", "8", "8:12345:1", "8:12345 ", " 8:12345", "x:12345", "8:-1"}) {
    EXPECT_FALSE(journal_stream_names(bad, 8, 12345)) << bad;
  }
}

TEST(config_metrics, say_whether_the_last_reload_was_accepted_and_when_the_config_was_read) {
  auto loaded_at = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
  const auto written = [&](bool ok) {
    prometheus_writer out;
    write_config_metrics(out, ok, loaded_at);
    return parse_prometheus(out.text());
  };
  auto parsed = written(true);
  EXPECT_THAT(parsed.problems, IsEmpty());
  EXPECT_EQ(parsed.types.at("hookless_config_last_reload_successful"), "gauge");
  EXPECT_EQ(parsed.value("hookless_config_last_reload_successful"), 1);
  EXPECT_EQ(parsed.value("hookless_config_last_reload_success_timestamp_seconds"), 1'700'000'000);

  parsed = written(false);
  EXPECT_EQ(parsed.value("hookless_config_last_reload_successful"), 0);
  EXPECT_EQ(parsed.value("hookless_config_last_reload_success_timestamp_seconds"), 1'700'000'000);

  loaded_at += std::chrono::milliseconds{90'500};
  parsed = written(true);
  EXPECT_EQ(parsed.value("hookless_config_last_reload_successful"), 1);
  EXPECT_EQ(parsed.value("hookless_config_last_reload_success_timestamp_seconds"), 1'700'000'090.5);
}

sink_config make_sink(const std::string& name, sink_type type, const std::string& path = {}) {
  sink_config s;
  s.name = name;
  s.type = type;
  s.path = path;
  return s;
}

config two_sink_config() {
  config c;
  c.sinks["out"] = make_sink("out", sink_type::stdout_lines);
  c.sinks["archive"] = make_sink("archive", sink_type::file, "/tmp/a.jsonl");
  return c;
}

// An exec sink whose command or max_running changed is a changed sink (a fresh one replaces it).
TEST(reload_plan, an_exec_sinks_command_and_max_running_make_it_changed) {
  auto exec_sink = make_sink("script", sink_type::exec);
  exec_sink.command = {"/usr/local/bin/on-event", "-v"};
  auto other = exec_sink;
  EXPECT_TRUE(same_sink(exec_sink, other));
  other.command.back() = "-q";
  EXPECT_FALSE(same_sink(exec_sink, other));
  other = exec_sink;
  other.max_running = 1;
  EXPECT_FALSE(same_sink(exec_sink, other));
}

TEST(reload_plan, applies_what_can_change_and_keeps_what_needs_a_restart) {
  const auto running = two_sink_config();
  auto loaded = running;
  loaded.extend.requests_per_second = 3;
  loaded.polling.fast_interval = milliseconds{250};
  loaded.polling.list_endpoints = false;
  loaded.logging.level = "debug";
  loaded.extend.base_url.url = "https://elsewhere.example";
  loaded.control.socket = "/tmp/other.sock";
  loaded.state.path = "/tmp/other.db";
  loaded.sinks.erase("out");
  loaded.sinks["archive"].path = "/tmp/b.jsonl";
  loaded.sinks["extra"] = make_sink("extra", sink_type::file, "/tmp/c.jsonl");

  const auto plan = plan_reload(running, loaded);
  EXPECT_EQ(plan.effective.extend.requests_per_second, 3);
  EXPECT_EQ(plan.effective.polling.fast_interval, milliseconds{250});
  EXPECT_FALSE(plan.effective.polling.list_endpoints);
  EXPECT_EQ(plan.effective.logging.level, "debug");
  EXPECT_EQ(plan.effective.extend.base_url, running.extend.base_url);
  EXPECT_EQ(plan.effective.control.socket, running.control.socket);
  EXPECT_EQ(plan.effective.state.path, running.state.path);
  EXPECT_THAT(plan.needs_restart, ElementsAre("extend.base_url", "control.socket", "state.path"));
  EXPECT_THAT(plan.sinks_added, ElementsAre("extra"));
  EXPECT_THAT(plan.sinks_removed, ElementsAre("out"));
  EXPECT_THAT(plan.sinks_changed, ElementsAre("archive"));
  EXPECT_EQ(plan.effective.sinks.at("archive").path, "/tmp/b.jsonl");
}

TEST(reload_plan, the_database_and_the_node_name_need_a_restart) {
  auto running = two_sink_config();
  running.state.url = "postgresql://db/hookless";
  running.cluster.node = "web-1";
  auto loaded = running;
  loaded.state.url = "postgresql://other/hookless";
  loaded.state.password_file = "/etc/hookless/db-password";
  loaded.cluster.node = "web-2";
  const auto plan = plan_reload(running, loaded);
  EXPECT_THAT(plan.needs_restart, ElementsAre("state.url", "state.password_file", "cluster.node"));
  EXPECT_EQ(plan.effective.state.url, running.state.url);
  EXPECT_EQ(plan.effective.state.password_file, std::nullopt);
  EXPECT_EQ(plan.effective.cluster.node, "web-1");
}

TEST(reload_plan, the_same_file_changes_nothing) {
  const auto running = two_sink_config();
  const auto plan = plan_reload(running, running);
  EXPECT_THAT(plan.needs_restart, IsEmpty());
  EXPECT_THAT(plan.sinks_added, IsEmpty());
  EXPECT_THAT(plan.sinks_removed, IsEmpty());
  EXPECT_THAT(plan.sinks_changed, IsEmpty());
  auto events_changed = running;
  events_changed.sinks["out"].events = {"extract_run.*"};
  EXPECT_THAT(plan_reload(running, events_changed).sinks_changed, ElementsAre("out"));
}

subscription_config make_subscription(std::string name, std::vector<std::string> kinds,
                                      std::vector<std::string> sinks) {
  return subscription_config{.name = std::move(name), .kinds = std::move(kinds), .sinks = std::move(sinks)};
}

TEST(reload_plan, subscriptions_are_added_changed_and_removed_without_a_restart) {
  auto running = two_sink_config();
  running.subscriptions["kept"] = make_subscription("kept", {"extract_run"}, {"out"});
  running.subscriptions["resinked"] = make_subscription("resinked", {"extract_run"}, {"out"});
  running.subscriptions["rekinded"] = make_subscription("rekinded", {"extract_run", "parse_run"}, {"out"});
  running.subscriptions["gone"] = make_subscription("gone", {"workflow_run"}, {"out"});
  auto loaded = running;
  loaded.subscriptions.erase("gone");
  loaded.subscriptions["resinked"].sinks = {"archive"};
  loaded.subscriptions["rekinded"].kinds = {"extract_run"};
  loaded.subscriptions["fresh"] = make_subscription("fresh", {"classify_run"}, {"archive"});

  const auto plan = plan_reload(running, loaded);
  EXPECT_THAT(plan.needs_restart, IsEmpty());
  EXPECT_THAT(plan.subscriptions_added, ElementsAre("fresh"));
  EXPECT_THAT(plan.subscriptions_changed, ElementsAre("rekinded", "resinked"));
  EXPECT_THAT(plan.subscriptions_removed, ElementsAre("gone"));
  ASSERT_EQ(plan.effective.subscriptions.size(), 4u);
  EXPECT_THAT(plan.effective.subscriptions.at("resinked").sinks, ElementsAre("archive"));
  EXPECT_THAT(plan.effective.subscriptions.at("rekinded").kinds, ElementsAre("extract_run"));
  EXPECT_EQ(describe_subscription_changes(plan),
            "subscriptions: 1 added (fresh), 2 changed (rekinded, resinked), 1 removed (gone)");
  EXPECT_EQ(describe_subscription_changes(plan_reload(running, running)), "subscriptions unchanged");
}

// The file's kinds were checked against its own api_version; the running one stays until a restart.
TEST(reload_plan, subscriptions_the_running_api_version_cannot_list_wait_for_a_restart) {
  auto running = two_sink_config();
  running.subscriptions["all"] = make_subscription("all", {"extract_run"}, {"out"});
  auto loaded = running;
  loaded.extend.api_version = "2025-04-21";
  loaded.subscriptions["all"].kinds = {"processor_run"};
  loaded.subscriptions["more"] = make_subscription("more", {"workflow_run"}, {"out"});
  const auto plan = plan_reload(running, loaded);
  EXPECT_THAT(plan.needs_restart, ElementsAre("extend.api_version"));
  EXPECT_THAT(plan.effective.subscriptions.at("all").kinds, ElementsAre("processor_run"));
  EXPECT_THAT(plan.subscriptions_added, ElementsAre("more"));

  running.extend.api_version = "2025-04-21";
  running.subscriptions["all"].kinds = {"processor_run"};
  loaded = running;
  loaded.extend.api_version = "2026-02-09";
  loaded.subscriptions["all"].kinds = {"extract_run"};
  const auto back = plan_reload(running, loaded);
  EXPECT_THAT(back.needs_restart, ElementsAre("extend.api_version", "subscriptions"));
  EXPECT_THAT(back.effective.subscriptions.at("all").kinds, ElementsAre("processor_run"));
  EXPECT_THAT(back.subscriptions_changed, IsEmpty());
}

TEST(service_notify, status_line_and_heartbeat_period) {
  EXPECT_EQ(status_line(1, "ok", 1), "1 pending run, API ok, 1 delivery waiting");
  EXPECT_EQ(status_line(12, "rate_limited", 0), "12 pending runs, API rate_limited, 0 deliveries waiting");
  EXPECT_EQ(heartbeat_period(std::chrono::microseconds{15'000'000}), std::chrono::microseconds{15'000'000});
  EXPECT_EQ(heartbeat_period(std::nullopt), std::chrono::seconds{5});
}

TEST(service_notify, nothing_happens_outside_systemd) {
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(notify_systemd("READY=1"));
  EXPECT_FALSE(activated_control_socket().has_value());
  EXPECT_FALSE(watchdog_period().has_value());
}

TEST(service_notify, watchdog_period_is_half_of_watchdog_usec) {
  ::setenv("WATCHDOG_USEC", "400000", 1);
  ::unsetenv("WATCHDOG_PID");
  const auto period = watchdog_period();
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(period.has_value());
  EXPECT_EQ(*period, std::chrono::microseconds{200'000});
}

// What the process has in RAM, from /proc/self/statm.
std::size_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::size_t total_pages = 0;
  std::size_t resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(heap_trim, gives_the_free_pages_inside_the_heap_back) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan's allocator is not glibc's";
#endif
  constexpr std::size_t mib = std::size_t{1} << 20;
  // 64 MiB in 4 KiB blocks, every 16th kept: the freed ones lie inside the heap, below kept ones,
  // where free() cannot give them back.
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 16'384; ++i) {
    blocks.push_back(std::make_unique<char[]>(4096));
    std::memset(blocks.back().get(), 1, 4096);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 16 != 0) blocks[i].reset();
  }
  ASSERT_GT(heap_free_bytes(), 48 * mib);
  const auto before = resident_bytes();
  EXPECT_FALSE(trim_heap(heap_free_bytes() + 1)) << "no more free than the slack: nothing to do";
  EXPECT_GT(resident_bytes() + 8 * mib, before);
  EXPECT_TRUE(trim_heap(8 * mib));
  EXPECT_LT(resident_bytes() + 40 * mib, before) << "before " << before / mib << " MiB";
}

// A store that has dead deliveries to count and refuses to list them: the gauge must be a count in
// the store, not every dead record read into memory every 15 s.
class dead_counting_store final : public state_store {
 public:
  int counts = 0;
  int listings = 0;
  awaitable<std::vector<run_record>> load_pending() override { co_return std::vector<run_record>{}; }
  awaitable<std::vector<delivery_job>> load_undone_deliveries() override { co_return std::vector<delivery_job>{}; }
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record>) override { co_return std::vector<bool>{}; }
  awaitable<void> save_progress(std::vector<run_progress>) override { co_return; }
  awaitable<void> record_outcome(run_outcome) override { co_return; }
  awaitable<void> update_delivery(delivery) override { co_return; }
  awaitable<std::optional<run_record>> find_run(std::string) override { co_return std::nullopt; }
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) override {
    co_return std::vector<std::optional<std::uint32_t>>(ids.size());
  }
  awaitable<std::vector<run_record>> list_runs(run_query) override { co_return std::vector<run_record>{}; }
  awaitable<std::vector<delivery>> list_deliveries(delivery_query) override {
    ++listings;
    co_return std::vector<delivery>{};
  }
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override {
    ++counts;
    std::map<std::string, std::size_t> dead;
    dead["app"] = 40'000;
    dead["archive"] = 2;
    co_return dead;
  }
  awaitable<std::optional<delivery_job>> find_delivery(std::string) override { co_return std::nullopt; }
  awaitable<bool> delete_run(std::string) override { co_return false; }
  awaitable<std::size_t> prune_finished(time_point) override { co_return 0; }
  awaitable<std::vector<subscription_position>> load_subscription_positions() override {
    co_return std::vector<subscription_position>{};
  }
  awaitable<std::vector<found_run>> save_finds(subscription_finds) override { co_return std::vector<found_run>{}; }
  awaitable<void> drop_subscription_position(std::string, std::string) override { co_return; }

  awaitable<std::vector<recorded_event>> events_after(event_position, std::size_t) override {
    co_return std::vector<recorded_event>{};
  }
  awaitable<event_position> newest_event_position() override { co_return 0; }
};

TEST(service_metrics, dead_deliveries_are_counted_by_the_store) {
  boost::asio::io_context io;
  dead_counting_store store;
  service_metrics metrics;
  metrics.dead_deliveries["gone"] = 5;  // a sink whose dead deliveries were pruned meanwhile
  boost::asio::steady_timer timer{io};
  bool ended = false;
  boost::asio::co_spawn(io, refresh_dead_deliveries(store, metrics, timer, std::chrono::milliseconds{10}),
                        [&](std::exception_ptr failure) {
                          ended = true;
                          EXPECT_FALSE(failure);
                        });
  io.run_for(std::chrono::milliseconds{100});
  timer.cancel();
  io.run_for(std::chrono::milliseconds{100});
  EXPECT_TRUE(ended);
  EXPECT_GE(store.counts, 2) << "recounted every period";
  EXPECT_EQ(store.listings, 0);
  EXPECT_THAT(metrics.dead_deliveries, ElementsAre(Pair("app", 40'000u), Pair("archive", 2u)));
}

}  // namespace
}  // namespace hookless
