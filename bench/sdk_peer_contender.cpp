// Runs sdk_peer.mjs for the mix (see sdk_peer_contender.hpp) and reads what it reports.
#include "bench/sdk_peer_contender.hpp"

#include "tests/blackbox/blackbox_support.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <signal.h>

#include <ranges>
#include <stdexcept>
#include <thread>

namespace hookless::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

fs::path sdk_peer_workspace(std::string& why) {
  std::vector<fs::path> files;
  for (const auto file : std::string_view{HOOKLESS_SDK_PEER_FILES} | std::views::split(':')) {
    files.emplace_back(std::string_view{file.begin(), file.end()});
  }
  return blackbox::npm_workspace(HOOKLESS_SDK_PEER_WORK, files, "extend-ai", why);
}

wait_result sdk_peer_waits(const fs::path& workspace, const std::vector<bench_run>& mix,
                           const wait_settings& settings) {
  wait_result result;
  result.contender = sdk_peer_name;
  result.runs = mix.size();
  const blackbox::temp_dir dir;
  mix_fake extend{dir.path(), settings, mix};

  json::array ids;
  for (const auto& run : mix) ids.push_back(json::value(run.id));
  const auto out = dir / "results.json";
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(fake_clock::now() - extend.created());
  write_text_file(dir / "input.json", json::serialize(json::object{{"baseUrl", extend.fake().base_url()},
                                                                   {"apiKey", "sk_test_hookless"},
                                                                   {"ids", std::move(ids)},
                                                                   {"deadlineMs", (settings.limit - elapsed).count()},
                                                                   {"out", out.string()}}));
  blackbox::spawn_spec spec;
  spec.program = "/usr/bin/node";
  spec.args = {(workspace / "sdk_peer.mjs").string(), (dir / "input.json").string()};
  spec.env = blackbox::base_environment();
  spec.env["NODE_EXTRA_CA_CERTS"] = extend.ca_file().string();
  spec.stdout_path = dir / "node.out";
  spec.stderr_path = dir / "node.err";
  blackbox::child_process node{spec};

  const auto done = out.string() + ".done";
  const auto give_up = extend.created() + settings.limit + 30s;
  while (!fs::exists(done) && node.running() && fake_clock::now() < give_up) std::this_thread::sleep_for(200ms);
  result.usage = read_process_usage(node.pid());
  node.signal(SIGTERM);
  node.wait_for(10s);
  extend.count_requests(result);
  if (!fs::exists(done)) {
    result.note = "node did not finish: " + blackbox::read_file(dir / "node.err").substr(0, 2000);
    result.lost = mix.size();
    return result;
  }

  const auto runs = index_by_id(mix);
  std::vector<double> latencies;
  double last = 0;
  const auto reports = json::parse(blackbox::read_file(out));
  for (const auto& entry : reports.at("runs").as_array()) {
    const auto& reported = entry.as_object();
    const auto id = blackbox::string_field(reported, "id");
    if (!reported.at("ok").as_bool()) {
      ++result.lost_because[blackbox::string_field(reported, "error")];
      continue;
    }
    const std::chrono::duration<double, std::milli> at{reported.at("atMs").to_number<double>()};
    const std::chrono::system_clock::time_point delivered{
        std::chrono::duration_cast<std::chrono::system_clock::duration>(at)};
    latencies.push_back(std::chrono::duration<double>(delivered - extend.finish_wall(*runs.at(id))).count());
    last = std::max(last, std::chrono::duration<double>(delivered - extend.created_wall()).count());
    ++result.delivered;
  }
  result.lost = mix.size() - result.delivered;
  result.latency = summarize(std::move(latencies));
  result.seconds = last;
  return result;
}

}  // namespace hookless::bench
