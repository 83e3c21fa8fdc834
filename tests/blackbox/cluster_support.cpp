// The cluster tests' helpers: health read as the cluster tests need it, the sink watcher, the fixture.
#include "tests/blackbox/cluster_support.hpp"

#include <boost/json/parse.hpp>

#include <fstream>
#include <iostream>

namespace hookless::blackbox {

namespace json = boost::json;

std::optional<cluster_health> read_cluster_health(const fs::path& socket, std::chrono::milliseconds timeout) {
  try {
    const auto answer = control_request(socket, "GET", "/v1/health", {}, timeout);
    if (answer.status != 200) return std::nullopt;
    const auto body = answer.json().as_object();
    cluster_health health;
    health.status = string_field(body, "status");
    if (const auto* store = body.if_contains("store"); store && store->is_object()) {
      health.store_state = string_field(store->get_object(), "state");
    }
    if (const auto* cluster = body.if_contains("cluster"); cluster && cluster->is_object()) {
      const auto& c = cluster->get_object();
      health.node = string_field(c, "node");
      health.role = string_field(c, "role");
      if (const auto* nodes = c.if_contains("nodes"); nodes && nodes->is_array()) {
        for (const auto& n : nodes->get_array()) {
          if (n.is_string()) health.nodes.emplace_back(n.get_string());
        }
      }
    }
    return health;
  } catch (const std::exception&) {
    return std::nullopt;  // down, or killed while answering
  }
}

// ---- sink_watcher -----------------------------------------------------------------------------

sink_watcher::sink_watcher(std::vector<fs::path> files, std::chrono::milliseconds period)
    : files_{std::move(files)}, offsets_(files_.size(), 0) {
  thread_ = std::thread{[this, period] {
    while (!stop_) {
      read_now();
      std::this_thread::sleep_for(period);
    }
  }};
}

sink_watcher::~sink_watcher() {
  stop_ = true;
  thread_.join();
}

std::vector<sink_line> sink_watcher::lines() const {
  std::lock_guard lock{mutex_};
  return lines_;
}

std::vector<std::string> sink_watcher::bad_lines() const {
  std::lock_guard lock{mutex_};
  return bad_lines_;
}

void sink_watcher::read_now() {
  std::lock_guard lock{mutex_};
  for (std::size_t sink = 0; sink < files_.size(); ++sink) read_new_lines(sink);
}

void sink_watcher::read_new_lines(std::size_t sink) {
  std::ifstream in{files_[sink], std::ios::binary};
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offsets_[sink]));
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  const auto now = std::chrono::steady_clock::now();
  std::size_t start = 0;
  // Only complete lines: the rest is read again next time, when its newline may have come.
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    boost::system::error_code ec;
    const auto value = json::parse(line, ec);
    const auto* payload = !ec && value.is_object() ? value.get_object().if_contains("payload") : nullptr;
    if (payload == nullptr || !payload->is_object()) {
      bad_lines_.push_back(line);
      continue;
    }
    const auto& event = value.get_object();
    lines_.push_back({.sink = sink,
                      .run_id = string_field(payload->get_object(), "id"),
                      .event_type = string_field(event, "eventType"),
                      .event_id = string_field(event, "eventId"),
                      .seen = now});
  }
  offsets_[sink] += start;
}

// ---- the fixture ------------------------------------------------------------------------------

void cluster_test::SetUp() {
  database_ = std::make_unique<test::pg_server>();
  database_url_ = database_->create_database();
}

void cluster_test::TearDown() {
  if (HasFailure()) {
    for (const auto& node : nodes_) {
      const auto log = node->log();
      const std::size_t keep = 8'000;
      std::cerr << "---- " << node->config().cluster_node << ": hooklessd log (last " << keep << " bytes) ----\n"
                << (log.size() > keep ? log.substr(log.size() - keep) : log) << "\n";
    }
  }
  nodes_.clear();  // the daemons before the fake and the database they use
  fake_.reset();
  database_.reset();
}

fake_extend& cluster_test::start_fake(fake_extend_options options) {
  fake_ = std::make_unique<fake_extend>(std::move(options));
  fake_->start();
  fake_->write_ca(dir_ / "ca.pem");
  return *fake_;
}

daemon_config cluster_test::node_config(const std::string& name) const {
  const auto folder = dir_ / name;
  fs::create_directories(folder);
  daemon_config c;
  c.base_url = fake_->base_url();
  c.ca_file = dir_ / "ca.pem";
  c.requests_per_second = 10;
  c.socket = folder / "hookless.sock";
  c.state_url = database_url_;
  c.cluster_node = name;
  c.events_file = folder / "events.jsonl";
  c.default_sinks = {"archive"};
  return c;
}

daemon_process& cluster_test::add_node(daemon_config config) {
  const auto folder = dir_ / config.cluster_node;
  nodes_.push_back(std::make_unique<daemon_process>(folder, std::move(config)));
  return *nodes_.back();
}

std::optional<std::size_t> cluster_test::poller_index(const std::vector<std::size_t>& among) const {
  std::optional<std::size_t> found;
  for (const auto i : among) {
    const auto health = read_cluster_health(nodes_[i]->socket());
    if (!health || health->role != "poller") continue;
    if (found) return std::nullopt;  // two say so: none is "the" poller
    found = i;
  }
  return found;
}

}  // namespace hookless::blackbox
