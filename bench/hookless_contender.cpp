// hooklessd waiting for the mix (see hookless_contender.hpp): registered in batches of 10,000 right
// after creation, delivered over the http sink to a callback_receiver, timed at arrival.
#include "bench/hookless_contender.hpp"

#include "tests/integration/callback_receiver.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <set>
#include <stdexcept>
#include <thread>

namespace hookless::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

blackbox::daemon_config bench_daemon_config(const fs::path& dir, const std::string& base_url, const fs::path& ca_file,
                                            const hookless_options& options) {
  blackbox::daemon_config c;
  c.base_url = base_url;
  c.ca_file = ca_file;
  c.requests_per_second = options.requests_per_second;
  c.max_connections = options.max_connections;
  c.timeout = "30s";
  c.fast_interval = "1s";
  c.fast_period = "30s";
  c.backoff = 1.15;
  c.max_interval = "30s";
  c.jitter = 0.25;
  c.deadline = "1d";
  c.socket = dir / "hookless.sock";
  c.state = dir / "state.db";
  c.events_file = dir / "events.jsonl";
  c.default_sinks = {"archive"};
  c.list_endpoints = options.list_endpoints;
  c.log_level = "info";
  return c;
}

bool daemon_knows_list_endpoints() {
  const blackbox::temp_dir dir;
  write_text_file(dir / "ca.pem", make_test_certs({"localhost"}, {"127.0.0.1"}).ca_pem);
  auto c = bench_daemon_config(dir.path(), "https://127.0.0.1:1", dir / "ca.pem", {.list_endpoints = true});
  write_text_file(dir / "hookless.yaml", blackbox::render_config(c));
  const auto check = blackbox::run_program(blackbox::hooklessd_program(),
                                           {"--check-config", "--config", (dir / "hookless.yaml").string()});
  return check.exit_code == 0;
}

std::string hookless_name(const hookless_options& options) {
  if (!options.list_endpoints) return "hookless";
  return *options.list_endpoints ? "hookless (lists on)" : "hookless (lists off)";
}

wait_result hookless_waits(const std::vector<bench_run>& mix, const wait_settings& settings,
                           const hookless_options& options) {
  wait_result result;
  result.contender = hookless_name(options);
  result.runs = mix.size();
  const blackbox::temp_dir dir;
  testing::callback_receiver receiver;
  write_text_file(dir / "secret", "wss_hookless_bench_secret\n");

  mix_fake extend{dir.path(), settings, mix};
  auto c = bench_daemon_config(dir.path(), extend.fake().base_url(), extend.ca_file(), options);
  c.http_sinks = {{.name = "app", .url = receiver.url("/hook"), .signing_secret_file = dir / "secret"}};
  c.default_sinks = {"app"};
  blackbox::daemon_process daemon{dir.path(), c};
  if (!daemon.start()) throw std::runtime_error("hooklessd did not start; its log:\n" + daemon.log());

  constexpr std::size_t batch = 10'000;  // the control API's most per request
  for (std::size_t first = 0; first < mix.size(); first += batch) {
    json::array runs;
    for (std::size_t i = first; i < std::min(mix.size(), first + batch); ++i)
      runs.push_back(json::object{{"id", mix[i].id}});
    const auto answer = daemon.register_runs(runs);
    if (answer.status != 201)
      throw std::runtime_error("registration answered " + std::to_string(answer.status) + ": " + answer.body);
  }

  const auto give_up = extend.created() + settings.limit;
  while (receiver.count() < mix.size() && fake_clock::now() < give_up && daemon.running())
    std::this_thread::sleep_for(200ms);
  if (const auto pid = daemon.pid()) result.usage = read_process_usage(*pid);
  if (!daemon.running()) result.note = "hooklessd exited early; see its log";
  daemon.terminate();
  extend.count_requests(result);

  const auto runs = index_by_id(mix);
  std::set<std::string> seen;
  std::vector<double> latencies;
  fake_clock::time_point last = extend.created();
  for (const auto& request : receiver.requests()) {
    const auto event = json::parse(request.body).as_object();
    const auto id = blackbox::string_field(event.at("payload").as_object(), "id");
    const auto run = runs.find(id);
    if (run == runs.end() || !seen.insert(id).second) continue;  // a duplicate delivery counts once
    latencies.push_back(std::chrono::duration<double>(request.at - extend.finish_time(*run->second)).count());
    last = std::max(last, request.at);
  }
  result.delivered = seen.size();
  result.lost = mix.size() - seen.size();
  if (result.lost > 0) result.lost_because["not delivered within the limit"] = result.lost;
  result.latency = summarize(std::move(latencies));
  result.seconds = std::chrono::duration<double>(last - extend.created()).count();
  return result;
}

}  // namespace hookless::bench
