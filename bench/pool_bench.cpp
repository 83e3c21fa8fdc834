// The many-pending-runs figures (see pool_bench.hpp): one hooklessd registers the runs under the
// 10/s budget, then restarts on the same state with an unlimited budget and polls flat out.
#include "bench/pool_bench.hpp"

#include "bench/batched_registration.hpp"
#include "bench/run_mix.hpp"
#include "tests/support/fake_extend.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace hookless::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string pool_id(std::size_t i) { return "exr_pool_" + std::to_string(i); }
std::string single_id(std::size_t i) { return "exr_single_" + std::to_string(i); }

// 16 clients, one run per request and connection: runs per second.
double register_singly(const blackbox::daemon_process& daemon, std::size_t runs) {
  constexpr std::size_t clients = 16;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> refused{0};
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 0; t < clients; ++t) {
      threads.emplace_back([&] {
        for (auto i = next++; i < runs; i = next++) {
          const auto body = json::serialize(json::object{{"id", single_id(i)}});
          try {
            if (blackbox::control_request(daemon.socket(), "POST", "/v1/runs", body).status != 201) ++refused;
          } catch (const std::exception&) {
            ++refused;
          }
        }
      });
    }
  }
  const double seconds = seconds_since(start);
  if (refused > 0) throw std::runtime_error(std::to_string(refused.load()) + " single registrations failed");
  return static_cast<double>(runs) / seconds;
}

process_usage usage_of(pid_t pid) {
  const auto usage = read_process_usage(pid);
  if (!usage) throw std::runtime_error("cannot read /proc/" + std::to_string(pid));
  return *usage;
}

pool_result measure_pool(const fs::path& dir, const pool_settings& settings) {
  pool_result result;
  result.contender = hookless_name(settings.daemon);
  result.lists_on = settings.daemon.list_endpoints.value_or(false);
  result.pending = settings.runs + settings.single_registrations;

  fake_extend_options options;
  options.record_requests = false;
  fake_extend fake{options};
  fake.start();
  fake.write_ca(dir / "fake-ca.pem");
  std::vector<run_script> scripts;
  for (std::size_t i = 0; i < settings.runs; ++i) scripts.push_back(endless_run(pool_id(i)));
  for (std::size_t i = 0; i < settings.single_registrations; ++i) scripts.push_back(endless_run(single_id(i)));
  fake.add_runs(std::move(scripts));

  auto limited = settings.daemon;
  limited.requests_per_second = 10;
  blackbox::daemon_process daemon{dir, bench_daemon_config(dir, fake.base_url(), dir / "fake-ca.pem", limited)};
  if (!daemon.start()) throw std::runtime_error("hooklessd did not start; its log:\n" + daemon.log());
  std::this_thread::sleep_for(500ms);
  result.baseline_rss = usage_of(*daemon.pid()).rss;
  result.batched_per_second = register_batched(daemon, settings.runs, pool_id);
  result.single_per_second = register_singly(daemon, settings.single_registrations);
  // At rest: past hooklessd's next heap trim (every 10 s), which gives back what the burst left free.
  std::this_thread::sleep_for(11s);
  const auto at_rest = usage_of(*daemon.pid());
  result.rss_at_rest = at_rest.rss;
  result.peak_rss_registering = at_rest.peak_rss;
  if (daemon.terminate(30s) != 0) result.note = "hooklessd did not stop cleanly after the registrations";

  daemon.config().requests_per_second = settings.unlimited_rate;
  const auto restart = std::chrono::steady_clock::now();
  if (!daemon.start({}, 60s)) throw std::runtime_error("hooklessd did not restart; its log:\n" + daemon.log());
  result.ready_seconds = seconds_since(restart);
  std::this_thread::sleep_for(settings.warm_up);

  const auto before = fake.stats();
  const auto daemon_before = usage_of(*daemon.pid());
  const auto self_before = usage_of(::getpid());
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(settings.window);
  const auto after = fake.stats();
  const double window = seconds_since(start);
  result.polling_usage = usage_of(*daemon.pid());
  result.daemon_cpu_seconds = result.polling_usage->cpu_seconds - daemon_before.cpu_seconds;
  result.fake_cpu_seconds = usage_of(::getpid()).cpu_seconds - self_before.cpu_seconds;
  result.polls_per_second = static_cast<double>(after.total_requests - before.total_requests) / window;
  result.responses_429 = after.responses_429;
  result.connections_opened = after.connections_accepted - before.connections_accepted;
  result.connections_open = after.open_connections;
  daemon.terminate(30s);
  return result;
}

}  // namespace

pool_result pool_bench(const pool_settings& settings) {
  const blackbox::temp_dir dir;
  try {
    return measure_pool(dir.path(), settings);
  } catch (const std::exception& e) {
    const auto log = blackbox::read_file(dir / "hooklessd.stderr");
    throw std::runtime_error(std::string{e.what()} + "; the end of hooklessd's log:\n" +
                             log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  }
}

}  // namespace hookless::bench
