// The memory-after-work figures (see memory_bench.hpp): hooklessd against the fake Extend API,
// its RSS read before, as soon as the work is done, and past its next heap trim.
#include "bench/memory_bench.hpp"

#include "bench/process_usage.hpp"
#include "tests/support/fake_extend.hpp"

#include <functional>
#include <stdexcept>
#include <thread>

namespace hookless::bench {

using namespace std::chrono_literals;

namespace {

constexpr auto work_limit = 10min;

std::uint64_t rss_of(const blackbox::daemon_process& daemon) {
  const auto usage = daemon.pid() ? read_process_usage(*daemon.pid()) : std::nullopt;
  if (!usage) throw std::runtime_error("cannot read hooklessd's /proc entry");
  return usage->rss;
}

std::vector<std::string> add_runs(fake_extend& fake, const std::string& prefix, std::size_t count,
                                  std::size_t output_bytes, bool finished) {
  std::vector<run_script> scripts;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < count; ++i) {
    ids.push_back(prefix + std::to_string(i));
    std::vector<timeline_step> timeline;  // empty: PROCESSED at once
    if (!finished) timeline.push_back({.status = "PROCESSING", .at = 0ms});
    scripts.push_back(
        {.id = ids.back(), .kind = "", .timeline = std::move(timeline), .fields = {}, .output_bytes = output_bytes});
  }
  fake.add_runs(std::move(scripts));
  return ids;
}

void watch(const blackbox::daemon_process& daemon, const std::vector<std::string>& ids) {
  const auto answer = daemon.watch(ids);
  if (answer.status != 201)
    throw std::runtime_error("registration answered " + std::to_string(answer.status) + ": " + answer.body);
}

std::uint64_t pending(const blackbox::daemon_process& daemon) {
  return daemon.health().at("pending").to_number<std::uint64_t>();
}

std::size_t backlog(const blackbox::daemon_process& daemon, const std::string& sink) {
  return daemon.health().at("sinks").at(sink).at("backlog").to_number<std::size_t>();
}

void await(const std::function<bool()>& done, const std::string& what) {
  if (!blackbox::wait_until(done, work_limit, 100ms)) throw std::runtime_error("timed out waiting for " + what);
}

// Right after the work, and past the daemon's next heap trim (every 10 s).
void measure_after(const blackbox::daemon_process& daemon, memory_result& result) {
  result.rss_after = rss_of(daemon);
  std::this_thread::sleep_for(11s);
  result.rss_at_rest = rss_of(daemon);
}

// A fake Extend API and hooklessd's config against it; the daemon once started.
struct bench_daemon {
  explicit bench_daemon(const memory_settings& settings) : fake(quiet_fake()) {
    fake.start();
    fake.write_ca(dir / "fake-ca.pem");
    config = bench_daemon_config(dir.path(), fake.base_url(), dir / "fake-ca.pem", settings.daemon);
  }
  void start() {
    daemon.emplace(dir.path(), config);
    if (!daemon->start()) throw std::runtime_error("hooklessd did not start; its log:\n" + daemon->log());
  }

  static fake_extend_options quiet_fake() {
    fake_extend_options options;
    options.record_requests = false;
    return options;
  }

  blackbox::temp_dir dir;
  fake_extend fake;
  blackbox::daemon_config config;
  std::optional<blackbox::daemon_process> daemon;
};

}  // namespace

memory_result finished_runs_memory(const memory_settings& settings) {
  memory_result result;
  result.contender = hookless_name(settings.daemon);
  result.scenario = std::to_string(settings.finishing) + " runs finish with " +
                    std::to_string(settings.output_bytes / 1000) + " kB outputs, " + std::to_string(settings.waiting) +
                    " pending";
  result.limit_mib = 80;
  bench_daemon bench{settings};
  const auto waiting = add_runs(bench.fake, "exr_waiting_", settings.waiting, 0, false);
  const auto finishing = add_runs(bench.fake, "exr_large_", settings.finishing, settings.output_bytes, true);
  bench.start();
  auto& daemon = *bench.daemon;
  watch(daemon, waiting);
  await([&] { return pending(daemon) == waiting.size(); }, "the pending runs");
  std::this_thread::sleep_for(1s);
  result.rss_before = rss_of(daemon);
  watch(daemon, finishing);
  await([&] { return pending(daemon) == waiting.size() && backlog(daemon, "archive") == 0; }, "the runs to finish");
  measure_after(daemon, result);
  daemon.terminate(30s);
  return result;
}

memory_result reload_memory(const memory_settings& settings) {
  memory_result result;
  result.contender = hookless_name(settings.daemon);
  result.scenario = std::to_string(settings.reloads) + " reloads of a sink that is down, " +
                    std::to_string(settings.backlog) + " undone " + std::to_string(settings.output_bytes / 1000) +
                    " kB deliveries";
  result.limit_mib = 40;
  bench_daemon bench{settings};
  const auto runs = add_runs(bench.fake, "exr_undelivered_", settings.backlog, settings.output_bytes, true);
  write_text_file(bench.dir / "secret", "whsec_hookless_bench\n");
  // Nothing listens there: each delivery fails at once and waits for its retry.
  bench.config.http_sinks = {{.name = "app",
                              .url = "http://127.0.0.1:" + std::to_string(blackbox::free_port()) + "/hook",
                              .signing_secret_file = bench.dir / "secret",
                              .timeout = "5s"}};
  bench.config.default_sinks = {"app"};
  bench.start();
  auto& daemon = *bench.daemon;
  watch(daemon, runs);
  await([&] { return pending(daemon) == 0 && backlog(daemon, "app") == runs.size(); }, "the backlog");
  std::this_thread::sleep_for(1s);
  result.rss_before = rss_of(daemon);
  for (int reload = 1; reload <= settings.reloads; ++reload) {
    daemon.config().http_sinks[0].timeout = std::to_string(5 + reload) + "s";
    if (!daemon.reload(30s)) throw std::runtime_error("reload " + std::to_string(reload) + " did not happen");
    await([&] { return backlog(daemon, "app") == runs.size(); }, "the backlog after reload " + std::to_string(reload));
  }
  measure_after(daemon, result);
  daemon.terminate(30s);
  return result;
}

}  // namespace hookless::bench
