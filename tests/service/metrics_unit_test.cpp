// Unit tests of what hooklessd adds for Prometheus, without processes: labelled histograms read
// back by the independent checker, the detection delay taken from an envelope, the process_*
// figures parsed from /proc text (and read from this test's own /proc), metrics.listen as a
// reload changes it, and the timed sink.
#include "core/model/event_envelope.hpp"
#include "daemon/service/process_stats.hpp"
#include "daemon/service/prometheus_text.hpp"
#include "daemon/service/reload_plan.hpp"
#include "daemon/service/service_metrics.hpp"
#include "tests/service/prometheus_check.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

namespace hookless {
namespace {

using metrics_check::parse_prometheus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

TEST(prometheus_writer_labels, labelled_histogram_series_round_trip_through_the_checker) {
  latency_histogram fast{{0.1, 1}};
  fast.observe(0.05);
  latency_histogram slow{{0.1, 1}};
  slow.observe(3);
  slow.observe(0.5);
  prometheus_writer out;
  out.family("d_seconds", "histogram", "Some delay.");
  out.histogram_series("d_seconds", {{"kind", "extract_run"}}, fast);
  out.histogram_series("d_seconds", {{"kind", "workflow_run"}}, slow);
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty()) << out.text();
  EXPECT_EQ(parsed.value("d_seconds_bucket", {{"kind", "extract_run"}, {"le", "0.1"}}), 1);
  EXPECT_EQ(parsed.value("d_seconds_bucket", {{"kind", "workflow_run"}, {"le", "1"}}), 1);
  EXPECT_EQ(parsed.value("d_seconds_bucket", {{"kind", "workflow_run"}, {"le", "+Inf"}}), 2);
  EXPECT_EQ(parsed.value("d_seconds_count", {{"kind", "workflow_run"}}), 2);
  EXPECT_EQ(parsed.value("d_seconds_sum", {{"kind", "workflow_run"}}), 3.5);
  EXPECT_EQ(parsed.value("d_seconds_count", {{"kind", "extract_run"}}), 1);
  // le comes after the series' own labels, as Prometheus' clients write it.
  EXPECT_NE(out.text().find("d_seconds_bucket{kind=\"extract_run\",le=\"0.1\"} 1\n"), std::string::npos);
}

TEST(subscription_metrics, each_subscription_and_kind_has_its_series) {
  const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'800'000'000}};
  subscription_status swept;
  swept.subscription = "invoices";
  swept.kind = "extract_run";
  swept.state = "ok";
  swept.swept_at = now - 2500ms;
  swept.sweeps = 12;
  swept.pages = 14;
  swept.runs_found = 5;
  swept.events = 6;
  subscription_status failing = swept;
  failing.kind = "workflow_run";
  failing.state = "failing";
  subscription_status starting;
  starting.subscription = "all";
  starting.kind = "parse_run";
  prometheus_writer out;
  write_subscription_metrics(out, {swept, failing, starting}, now);
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty()) << out.text();
  const std::map<std::string, std::string> invoices{{"subscription", "invoices"}, {"kind", "extract_run"}};
  const std::map<std::string, std::string> workflows{{"subscription", "invoices"}, {"kind", "workflow_run"}};
  const std::map<std::string, std::string> all{{"subscription", "all"}, {"kind", "parse_run"}};
  EXPECT_EQ(parsed.value("hookless_subscription_position_age_seconds", invoices), 2.5);
  EXPECT_FALSE(parsed.value("hookless_subscription_position_age_seconds", all)) << "no sample before a sweep";
  EXPECT_EQ(parsed.value("hookless_subscription_sweeps_total", invoices), 12);
  EXPECT_EQ(parsed.value("hookless_subscription_pages_total", invoices), 14);
  EXPECT_EQ(parsed.value("hookless_subscription_runs_found_total", invoices), 5);
  EXPECT_EQ(parsed.value("hookless_subscription_events_total", invoices), 6);
  EXPECT_EQ(parsed.value("hookless_subscription_sweeps_total", all), 0);
  EXPECT_EQ(parsed.value("hookless_subscription_up", invoices), 1);
  EXPECT_EQ(parsed.value("hookless_subscription_up", workflows), 0) << "0 while failing";
  EXPECT_EQ(parsed.value("hookless_subscription_up", all), 1) << "starting is not failing";
}

TEST(subscription_metrics, the_families_are_there_without_subscriptions) {
  prometheus_writer out;
  write_subscription_metrics(out, {}, std::chrono::system_clock::now());
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty()) << out.text();
  for (const char* family : {"hookless_subscription_position_age_seconds", "hookless_subscription_sweeps_total",
                             "hookless_subscription_pages_total", "hookless_subscription_runs_found_total",
                             "hookless_subscription_events_total", "hookless_subscription_up"}) {
    EXPECT_TRUE(parsed.help.contains(family)) << family;
  }
}

TEST(prometheus_writer_labels, empty_histograms_have_every_bucket_at_zero) {
  for (const auto& h : {detection_delay_histogram(), delivery_duration_histogram()}) {
    prometheus_writer out;
    out.histogram("e_seconds", "Empty.", h);
    const auto parsed = parse_prometheus(out.text());
    EXPECT_THAT(parsed.problems, IsEmpty());
    EXPECT_EQ(parsed.all("e_seconds_bucket").size(), h.upper_bounds().size() + 1);
    EXPECT_EQ(parsed.value("e_seconds_count"), 0);
    EXPECT_EQ(parsed.value("e_seconds_bucket", {{"le", "+Inf"}}), 0);
  }
}

// ---- detection delay ------------------------------------------------------------------------

run_record run_for_envelope() {
  run_record run;
  run.id = "exr_1";
  run.kind = "extract_run";
  return run;
}

std::chrono::system_clock::time_point at(std::time_t seconds, int millis = 0) {
  return std::chrono::system_clock::from_time_t(seconds) + std::chrono::milliseconds{millis};
}

TEST(detection_delay, from_the_payloads_updated_at_to_the_event) {
  const auto run = run_for_envelope();
  // 2026-01-01T00:00:00Z is 1767225600.
  const auto event = make_event(
      run, "extract_run.processed",
      R"({"object":"extract_run","id":"exr_1","status":"PROCESSED","output":{"updatedAt":"nested, not this"},)"
      R"("updatedAt":"2026-01-01T00:00:00.250Z"})",
      at(1767225600, 2750));
  const auto delay = detection_delay_of(event.body, at(1767225600), at(1767225600, 2750));
  ASSERT_TRUE(delay);
  EXPECT_DOUBLE_EQ(*delay, 2.5);
}

TEST(detection_delay, a_run_registered_after_it_finished_counts_from_its_registration) {
  const auto run = run_for_envelope();
  const auto event = make_event(run, "extract_run.processed", R"({"id":"exr_1","updatedAt":"2026-01-01T00:00:00Z"})",
                                at(1767225600 + 3600, 1500));
  // Registered an hour after Extend finished it, seen 1.5 s later.
  EXPECT_EQ(detection_delay_of(event.body, at(1767225600 + 3600), at(1767225600 + 3600, 1500)), 1.5);
}

TEST(detection_delay, a_clock_ahead_of_ours_counts_as_no_delay_and_no_time_as_no_sample) {
  const auto run = run_for_envelope();
  const auto ahead =
      make_event(run, "extract_run.processed", R"({"id":"exr_1","updatedAt":"2026-01-01T00:00:05Z"})", at(1767225600));
  EXPECT_EQ(detection_delay_of(ahead.body, at(0), at(1767225600)), 0.0);
  // The daemon's own events carry no updatedAt, nor may an answer Extend shapes differently.
  const auto expired = make_event(run, "run.expired", daemon_event_payload(run, "deadline passed"), at(1767225600));
  EXPECT_EQ(detection_delay_of(expired.body, at(0), at(1767225600)), std::nullopt);
  const auto odd = make_event(run, "extract_run.processed", R"({"id":"exr_1","updatedAt":12})", at(1767225600));
  EXPECT_EQ(detection_delay_of(odd.body, at(0), at(1767225600)), std::nullopt);
  const auto bad = make_event(run, "extract_run.processed", R"({"id":"exr_1","updatedAt":"yesterday"})", at(0));
  EXPECT_EQ(detection_delay_of(bad.body, at(0), at(0)), std::nullopt);
}

// ---- process_* ------------------------------------------------------------------------------

TEST(process_stats, reads_the_fields_proc_5_describes) {
  // A comm with spaces and parentheses: the fields start after the last ')'.
  const std::string stat =
      "4242 (hook (less) d) S 1 4242 4242 0 -1 4194560 1200 0 0 0 "
      "250 150 0 0 20 0 3 0 "
      "123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto stats = parse_proc_self_stat(stat, 100, 4096, 1'700'000'000);
  ASSERT_TRUE(stats);
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 4.0);  // (250 + 150) ticks at 100 per second
  EXPECT_DOUBLE_EQ(stats->start_time_seconds, 1'700'000'000 + 1234.56);
  EXPECT_DOUBLE_EQ(stats->virtual_bytes, 104857600);
  EXPECT_DOUBLE_EQ(stats->resident_bytes, 2560.0 * 4096);
  EXPECT_FALSE(parse_proc_self_stat("4242 (x) S 1 2 3", 100, 4096, 0));
  EXPECT_FALSE(parse_proc_self_stat("", 100, 4096, 0));
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1'700'000'000);
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\n"), std::nullopt);
}

TEST(process_stats, this_process_reads_as_itself) {
  const auto stats = read_process_stats();
  const auto now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(stats.start_time_seconds, now - 3600) << "this test started less than an hour ago";
  EXPECT_LE(stats.start_time_seconds, now + 1);
  EXPECT_GT(stats.resident_bytes, 1 << 20);
  EXPECT_GE(stats.virtual_bytes, stats.resident_bytes);
  EXPECT_GE(stats.open_fds, 3);  // stdin, stdout, stderr
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(stats.max_fds, static_cast<double>(limit.rlim_cur));
  EXPECT_GE(stats.cpu_seconds, 0);

  prometheus_writer out;
  write_process_metrics(out, stats);
  const auto parsed = parse_prometheus(out.text());
  EXPECT_THAT(parsed.problems, IsEmpty());
  EXPECT_EQ(parsed.types.at("process_cpu_seconds_total"), "counter");
  for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                            "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_EQ(parsed.types.at(gauge), "gauge") << gauge;
  }
  EXPECT_EQ(parsed.value("process_open_fds"), stats.open_fds);
}

// ---- reload ---------------------------------------------------------------------------------

TEST(metrics_reload, a_changed_metrics_listen_waits_for_a_restart) {
  config running;
  running.metrics.listen = listen_address{.host = "127.0.0.1", .port = 9464};
  auto loaded = running;
  loaded.metrics.listen->port = 9465;
  auto plan = plan_reload(running, loaded);
  EXPECT_THAT(plan.needs_restart, ElementsAre("metrics.listen"));
  EXPECT_EQ(plan.effective.metrics.listen, running.metrics.listen);
  loaded.metrics.listen.reset();  // switched off: also at the restart
  plan = plan_reload(running, loaded);
  EXPECT_THAT(plan.needs_restart, ElementsAre("metrics.listen"));
  EXPECT_EQ(plan.effective.metrics.listen, running.metrics.listen);
  EXPECT_THAT(plan_reload(running, running).needs_restart, IsEmpty());
}

// ---- timed sink -----------------------------------------------------------------------------

class answering_sink final : public sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job&) override {
    ++calls;
    delivery_result result;
    result.delivered = calls > 1;
    if (!result.delivered) result.error = "refused";
    co_return result;
  }
  void reopen() override { ++reopened; }
  int calls = 0;
  int reopened = 0;
};

TEST(timed_sink, times_every_attempt_and_passes_everything_on) {
  boost::asio::io_context io;
  service_metrics metrics;
  auto inner = std::make_unique<answering_sink>();
  auto& seen = *inner;
  timed_sink timed{std::move(inner), "app", metrics};
  std::vector<bool> verdicts;
  const delivery_job job;
  auto attempts = [&]() -> awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      const auto result = co_await timed.deliver(job);
      verdicts.push_back(result.delivered);
    }
  };
  boost::asio::co_spawn(io, attempts, [](std::exception_ptr failure) { EXPECT_FALSE(failure); });
  io.run();
  timed.reopen();
  EXPECT_THAT(verdicts, ElementsAre(false, true));
  EXPECT_EQ(seen.calls, 2);
  EXPECT_EQ(seen.reopened, 1);
  ASSERT_TRUE(metrics.delivery_seconds.contains("app"));
  EXPECT_EQ(metrics.delivery_seconds.at("app").count(), 2u) << "failed attempts are timed too";
}

class limited_answering_sink final : public sink, public limited_sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job&) override {
    delivery_result result;
    result.delivered = true;
    co_return result;
  }
  delivery_limits limits() const override { return {.max_in_flight = 4, .max_age = std::chrono::milliseconds{2000}}; }
};

// The queue reads its limits from the sink it is given: timing must not hide the http sink's
// (several deliveries at once, max_age), or a hanging receiver would hold every delivery up.
TEST(timed_sink, keeps_the_limits_of_the_sink_it_times) {
  service_metrics metrics;
  const timed_sink limited{std::make_unique<limited_answering_sink>(), "app", metrics};
  EXPECT_EQ(limited.limits().max_in_flight, 4u);
  EXPECT_EQ(limited.limits().max_age, std::chrono::milliseconds{2000});
  const timed_sink plain{std::make_unique<answering_sink>(), "out", metrics};
  EXPECT_EQ(plain.limits().max_in_flight, 1u);
  EXPECT_FALSE(plain.limits().max_age);
}

}  // namespace
}  // namespace hookless
