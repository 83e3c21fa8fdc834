// Black box: monitoring hooklessd with what people run. A real Prometheus (Debian's `prometheus`)
// scrapes hooklessd's metrics.listen and the test reads the values back through Prometheus' HTTP
// API, with the shipped alert rules loaded and evaluated; `promtool check rules` and `promtool
// test rules` on monitoring/; the Grafana dashboard and the rules name only series hooklessd
// exports; the TCP listener's answers, a reload that changes metrics.listen, and a port taken.
#include "daemon/version.hpp"
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/service/prometheus_check.hpp"
#include "tests/support/test_certs.hpp"

#include <gmock/gmock.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <regex>
#include <set>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const fs::path source_dir{HOOKLESS_SOURCE_DIR};
// Debian 12's package `prometheus` ships both (scripts/install-deps.sh installs it with the tests).
const fs::path prometheus_program{"/usr/bin/prometheus"};
const fs::path promtool_program{"/usr/bin/promtool"};

// Every metric name written in `text` (a dashboard, a rule file): hookless_* and process_*.
std::set<std::string> series_named_in(const std::string& text) {
  static const std::regex name{R"(\b(hookless|process)_[a-z0-9_]+)"};
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// The sample names of a scrape (with the histograms' _bucket, _sum and _count).
std::set<std::string> series_in(const metrics_check::prometheus_text& scraped) {
  std::set<std::string> names;
  for (const auto& sample : scraped.samples) names.insert(sample.name);
  return names;
}

struct dashboard_query {
  std::string panel;
  std::string expr;
};

// Every query of the dashboard's panels, with its panel's title.
std::vector<dashboard_query> dashboard_queries(const json::object& dashboard) {
  std::vector<dashboard_query> queries;
  for (const auto& panel : dashboard.at("panels").as_array()) {
    const auto& p = panel.as_object();
    if (p.at("type").as_string() == "row") continue;
    for (const auto& target : p.at("targets").as_array()) {
      queries.push_back({std::string{p.at("title").as_string()}, std::string{target.at("expr").as_string()}});
    }
  }
  return queries;
}

std::string url_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  }
  return out;
}

// Debian's Prometheus in the foreground on a free port of 127.0.0.1 with its data in `dir`,
// scraping hooklessd every second and evaluating the shipped rules every second.
class prometheus_server {
 public:
  prometheus_server(const fs::path& dir, unsigned short hooklessd_port) : port_{free_port()}, log_{dir / "prom.log"} {
    const auto config = dir / "prometheus.yml";
    write_text_file(config,
                    "global:\n"
                    "  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n"
                    "  - " +
                        (source_dir / "monitoring/alerts.yml").string() +
                        "\n"
                        "scrape_configs:\n"
                        "  - job_name: hookless\n"
                        "    static_configs:\n"
                        "      - targets: [\"127.0.0.1:" +
                        std::to_string(hooklessd_port) + "\"]\n");
    spawn_spec spec;
    spec.program = prometheus_program;
    spec.args = {"--config.file=" + config.string(), "--storage.tsdb.path=" + (dir / "prom-data").string(),
                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=info"};
    spec.env = base_environment();
    spec.stdout_path = log_;
    spec.stderr_path = log_;
    child_.emplace(spec);
  }

  bool wait_ready(std::chrono::milliseconds limit) {
    return wait_until(
        [&] {
          try {
            return tcp_request("127.0.0.1", port_, "GET", "/-/ready").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        limit, 100ms);
  }

  // GET /api/v1/...: the JSON answer's "data".
  json::value api(const std::string& target) const {
    const auto answer = tcp_request("127.0.0.1", port_, "GET", target);
    if (answer.status != 200) throw std::runtime_error("prometheus answered " + std::to_string(answer.status));
    auto parsed = json::parse(answer.body);
    return parsed.at("data");
  }

  // The instant vector `query` evaluates to: each sample's labels and value.
  std::vector<std::pair<json::object, double>> query(const std::string& promql) const {
    const auto data = api("/api/v1/query?query=" + url_encode(promql));
    std::vector<std::pair<json::object, double>> samples;
    for (const auto& item : data.at("result").as_array()) {
      const auto& value = item.at("value").as_array();
      samples.emplace_back(item.at("metric").as_object(), std::stod(std::string{value.at(1).as_string()}));
    }
    return samples;
  }

  // The one value of `promql`, once Prometheus has it, or nullopt after `limit`.
  std::optional<double> wait_for_value(const std::string& promql, std::chrono::milliseconds limit) const {
    std::optional<double> seen;
    wait_until(
        [&] {
          try {
            const auto samples = query(promql);
            if (samples.size() == 1) seen = samples.front().second;
          } catch (const std::exception&) {
          }
          return seen.has_value();
        },
        limit, 200ms);
    return seen;
  }

  std::string log() const { return read_file(log_); }

 private:
  unsigned short port_;
  fs::path log_;
  std::optional<child_process> child_;
};

class monitoring_test : public blackbox_test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(prometheus_program) && fs::exists(promtool_program))
        << "the monitoring tests need Debian's package `prometheus` (prometheus and promtool): "
           "scripts/install-deps.sh installs it";
  }

  // hooklessd with metrics.listen on a free port of 127.0.0.1.
  daemon_process& start_daemon_with_metrics_port() {
    start_fake();
    auto c = base_config();
    metrics_port_ = free_port();
    c.metrics_listen = "127.0.0.1:" + std::to_string(metrics_port_);
    auto& daemon = make_daemon(c);
    EXPECT_TRUE(daemon.start());
    return daemon;
  }

  void add_finishing_run(const std::string& id, std::chrono::milliseconds after) {
    fake_->add_run(
        run_script{.id = id, .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", after}}, .fields = {}});
  }

  http_answer scrape(const std::string& method = "GET", const std::string& target = "/metrics") const {
    return tcp_request("127.0.0.1", metrics_port_, method, target);
  }

  unsigned short metrics_port_ = 0;
};

// ---- the shipped rules and dashboard ----------------------------------------------------------

TEST_F(monitoring_test, promtool_checks_the_rules_and_runs_their_unit_tests) {
  const auto checked =
      run_program(promtool_program, {"check", "rules", (source_dir / "monitoring/alerts.yml").string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_THAT(checked.out + checked.err, HasSubstr("SUCCESS"));
  const auto tested =
      run_program(promtool_program, {"test", "rules", (source_dir / "monitoring/alerts-test.yml").string()});
  EXPECT_EQ(tested.exit_code, 0) << tested.out << tested.err;
  EXPECT_THAT(tested.out + tested.err, HasSubstr("SUCCESS"));

  // Every alert of the issue has a rule, and each rule has a unit test.
  const auto rules = read_file(source_dir / "monitoring/alerts.yml");
  const auto tests = read_file(source_dir / "monitoring/alerts-test.yml");
  for (const char* alert :
       {"HooklessDeadDeliveries", "HooklessApiUnauthorized", "HooklessBudgetPaused", "HooklessDeliveryBacklogGrowing",
        "HooklessNoSuccessfulPoll", "HooklessConfigReloadFailed"}) {
    EXPECT_THAT(rules, HasSubstr(std::string{"alert: "} + alert));
    EXPECT_THAT(tests, HasSubstr(std::string{"alertname: "} + alert));
  }
}

TEST_F(monitoring_test, the_dashboard_and_the_rules_name_only_series_hooklessd_exports) {
  start_daemon_with_metrics_port();
  add_finishing_run("exr_for_histograms", 100ms);
  ASSERT_EQ(daemon_->watch({"exr_for_histograms"}).status, 201u);
  ASSERT_TRUE(wait_for_file_events(1, 10s));
  const auto scraped = metrics_check::parse_prometheus(scrape().body);
  ASSERT_THAT(scraped.problems, IsEmpty());
  const auto exported = series_in(scraped);

  // The dashboard: valid JSON, importable (its data source an input), every panel with queries.
  const auto text = read_file(source_dir / "monitoring/grafana-dashboard.json");
  json::value dashboard;
  ASSERT_NO_THROW(dashboard = json::parse(text));
  const auto& root = dashboard.as_object();
  EXPECT_EQ(root.at("__inputs").as_array().at(0).at("pluginId").as_string(), "prometheus");
  std::set<std::int64_t> ids;
  for (const auto& panel : root.at("panels").as_array()) {
    const auto& p = panel.as_object();
    EXPECT_TRUE(ids.insert(p.at("id").as_int64()).second) << "two panels with id " << p.at("id");
    if (p.at("type").as_string() != "row") {
      EXPECT_FALSE(p.at("targets").as_array().empty()) << p.at("title");
    }
  }
  const auto queries = dashboard_queries(root);
  EXPECT_GE(queries.size(), 20u);
  for (const auto& [panel, expr] : queries) {
    const auto names = series_named_in(expr);
    EXPECT_FALSE(names.empty()) << panel << ": a query on no hookless series: " << expr;
    for (const auto& name : names) {
      EXPECT_TRUE(exported.contains(name)) << panel << ": " << name << " is not exported by hooklessd";
    }
  }
  // Every name anywhere in it (descriptions, variables) is a series or a family hooklessd exports.
  auto names_or_families = exported;
  for (const auto& [family, type] : scraped.types) names_or_families.insert(family);
  for (const auto& name : series_named_in(text)) {
    EXPECT_TRUE(names_or_families.contains(name)) << "dashboard: " << name;
  }
  // And the dashboard shows the new series.
  for (const char* shown :
       {"hookless_detection_delay_seconds_bucket", "hookless_delivery_duration_seconds_bucket",
        "hookless_budget_current_requests_per_second", "process_resident_memory_bytes", "hookless_build_info"}) {
    EXPECT_THAT(text, HasSubstr(shown));
  }

  // The rules.
  for (const auto& name : series_named_in(read_file(source_dir / "monitoring/alerts.yml"))) {
    EXPECT_TRUE(names_or_families.contains(name)) << "alerts.yml: " << name << " is not exported by hooklessd";
  }
}

// ---- a real Prometheus ----------------------------------------------------------------------

TEST_F(monitoring_test, a_real_prometheus_scrapes_metrics_listen_and_evaluates_the_rules) {
  auto& daemon = start_daemon_with_metrics_port();
  add_finishing_run("exr_scraped", 300ms);
  ASSERT_EQ(daemon.watch({"exr_scraped"}).status, 201u);
  ASSERT_TRUE(wait_for_file_events(1, 10s));

  prometheus_server prometheus{dir_.path(), metrics_port_};
  ASSERT_TRUE(prometheus.wait_ready(30s)) << prometheus.log();
  // The first scrape after start; then the values as hooklessd wrote them.
  ASSERT_EQ(prometheus.wait_for_value("hookless_build_info", 30s), 1) << prometheus.log();
  const auto build = prometheus.query("hookless_build_info");
  ASSERT_EQ(build.size(), 1u);
  EXPECT_EQ(build[0].first.at("version").as_string(), HOOKLESS_VERSION);
  EXPECT_EQ(build[0].first.at("job").as_string(), "hookless");
  EXPECT_EQ(prometheus.wait_for_value("up{job=\"hookless\"}", 5s), 1);

  EXPECT_EQ(prometheus.wait_for_value("hookless_events_total{kind=\"extract_run\"}", 5s), 1);
  EXPECT_EQ(prometheus.wait_for_value("hookless_detection_delay_seconds_count{kind=\"extract_run\"}", 5s), 1);
  const auto delay = prometheus.wait_for_value("hookless_detection_delay_seconds_sum{kind=\"extract_run\"}", 5s);
  ASSERT_TRUE(delay);
  EXPECT_GE(*delay, 0);
  EXPECT_LT(*delay, 10) << "the fake's run finished 300 ms after it was created and is polled every 100 ms";
  EXPECT_EQ(prometheus.wait_for_value("hookless_deliveries_total{sink=\"archive\",state=\"done\"}", 5s), 1);
  EXPECT_GE(prometheus.wait_for_value("hookless_delivery_duration_seconds_count{sink=\"archive\"}", 5s).value_or(0), 1);
  // Zero-valued series for what has not happened: no workflow run, no dead delivery.
  EXPECT_EQ(prometheus.wait_for_value("hookless_pending_runs{kind=\"workflow_run\"}", 5s), 0);
  EXPECT_EQ(prometheus.wait_for_value("hookless_events_total{kind=\"workflow_run\"}", 5s), 0);
  EXPECT_EQ(prometheus.wait_for_value("hookless_dead_deliveries{sink=\"out\"}", 5s), 0);
  EXPECT_EQ(prometheus.wait_for_value("hookless_budget_current_requests_per_second", 5s), 50);
  EXPECT_EQ(prometheus.wait_for_value("hookless_api_state{state=\"ok\"}", 5s), 1);
  const auto now = static_cast<double>(std::time(nullptr));
  const auto last_poll = prometheus.wait_for_value("hookless_last_successful_poll_timestamp_seconds", 5s);
  ASSERT_TRUE(last_poll);
  EXPECT_NEAR(*last_poll, now, 60);
  const auto started = prometheus.wait_for_value("process_start_time_seconds", 5s);
  ASSERT_TRUE(started);
  EXPECT_NEAR(*started, now, 120);
  EXPECT_GT(prometheus.wait_for_value("process_resident_memory_bytes", 5s).value_or(0), 1 << 20);
  // The rate of a counter, as dashboards ask for it.
  EXPECT_TRUE(prometheus.wait_for_value("sum(rate(hookless_polls_total[1m]))", 5s));

  // Every query of the dashboard is valid PromQL and finds data here (its $instance variable as
  // "every instance").
  const auto dashboard = json::parse(read_file(source_dir / "monitoring/grafana-dashboard.json")).as_object();
  for (auto [panel, expr] : dashboard_queries(dashboard)) {
    for (auto at = expr.find("$instance"); at != std::string::npos; at = expr.find("$instance")) {
      expr.replace(at, std::string_view{"$instance"}.size(), ".*");
    }
    std::string failure;
    const bool answered = wait_until(
        [&] {
          try {
            return !prometheus.query(expr).empty();
          } catch (const std::exception& e) {
            failure = e.what();
            return false;
          }
        },
        10s, 250ms);
    EXPECT_TRUE(answered) << panel << ": " << expr << " found nothing " << failure;
  }

  // The shipped rules load into this Prometheus and evaluate against these series without an error.
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          const auto groups = prometheus.api("/api/v1/rules").at("groups").as_array();
          if (groups.empty()) return false;
          for (const auto& rule : groups.at(0).at("rules").as_array()) {
            if (rule.at("health").as_string() != "ok") return false;
          }
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      15s))
      << json::serialize(prometheus.api("/api/v1/rules")) << prometheus.log();
  const auto rules = prometheus.api("/api/v1/rules").at("groups").as_array().at(0).at("rules").as_array();
  EXPECT_GE(rules.size(), 6u);
  // Nothing is wrong here, so nothing fires.
  EXPECT_THAT(prometheus.api("/api/v1/alerts").at("alerts").as_array(), IsEmpty());
  EXPECT_EQ(daemon.terminate(), 0);
}

// ---- the TCP listener -----------------------------------------------------------------------

TEST_F(monitoring_test, metrics_listen_serves_the_control_sockets_metrics_and_nothing_else) {
  auto& daemon = start_daemon_with_metrics_port();
  const auto answer = scrape();
  EXPECT_EQ(answer.status, 200u);
  const auto over_tcp = metrics_check::parse_prometheus(answer.body);
  EXPECT_THAT(over_tcp.problems, IsEmpty()) << answer.body;
  const auto over_socket = metrics_check::parse_prometheus(daemon.request("GET", "/metrics").body);
  EXPECT_EQ(over_tcp.types, over_socket.types) << "the same families on both";
  EXPECT_EQ(scrape("GET", "/metrics?x=1").status, 200u);
  EXPECT_EQ(scrape("GET", "/").status, 404u);
  EXPECT_EQ(scrape("GET", "/v1/health").status, 404u) << "the control API stays on its socket";
  EXPECT_EQ(scrape("POST", "/metrics").status, 405u);
  EXPECT_THAT(daemon.log(),
              HasSubstr("metrics: serving http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics"));
  EXPECT_EQ(daemon.terminate(), 0);
  EXPECT_THROW(scrape(), std::exception) << "closed with the daemon";
}

TEST_F(monitoring_test, a_reload_that_changes_metrics_listen_says_it_needs_a_restart_and_keeps_serving) {
  auto& daemon = start_daemon_with_metrics_port();
  const auto old_port = metrics_port_;
  const auto new_port = free_port();
  daemon.config().metrics_listen = "127.0.0.1:" + std::to_string(new_port);
  ASSERT_TRUE(daemon.reload());
  EXPECT_THAT(daemon.log(),
              HasSubstr("reload: metrics.listen changed; it takes effect after a restart, the running value stays"));
  EXPECT_EQ(tcp_request("127.0.0.1", old_port, "GET", "/metrics").status, 200u);
  EXPECT_THROW(tcp_request("127.0.0.1", new_port, "GET", "/metrics"), std::exception);
  // After the restart, the new address.
  ASSERT_EQ(daemon.terminate(), 0);
  ASSERT_TRUE(daemon.start());
  EXPECT_EQ(tcp_request("127.0.0.1", new_port, "GET", "/metrics").status, 200u);
  EXPECT_THROW(tcp_request("127.0.0.1", old_port, "GET", "/metrics"), std::exception);
}

TEST_F(monitoring_test, a_port_already_taken_stops_the_start_naming_metrics_listen) {
  start_fake();
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor taken{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  const auto port = taken.local_endpoint().port();
  auto c = base_config();
  c.metrics_listen = "127.0.0.1:" + std::to_string(port);
  write_text_file(dir_ / "taken.yaml", render_config(c));
  const auto run = run_program(hooklessd_program(), {"--config", (dir_ / "taken.yaml").string()},
                               {{"EXTEND_API_KEY", "sk_test_hookless"}}, 20s);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("metrics.listen 127.0.0.1:" + std::to_string(port) + ": cannot bind"));
  EXPECT_FALSE(fs::exists(c.socket)) << "it stopped before the control socket was made";
}

TEST_F(monitoring_test, check_config_names_a_bad_metrics_listen_with_its_line) {
  start_fake();
  auto text = render_config(base_config()) + "metrics:\n  listen: metrics.internal:9464\n";
  write_text_file(dir_ / "bad.yaml", text);
  const auto run = run_program(hooklessd_program(), {"--check-config", "--config", (dir_ / "bad.yaml").string()},
                               {{"EXTEND_API_KEY", "sk_test_hookless"}});
  EXPECT_EQ(run.exit_code, 1);
  const auto line = std::count(text.begin(), text.end(), '\n');  // the last line
  EXPECT_THAT(run.out + run.err,
              HasSubstr("bad.yaml:" + std::to_string(line) + ": metrics.listen: expected HOST:PORT"));
}

}  // namespace
}  // namespace hookless::blackbox
