// The cluster figures (see cluster_bench.hpp), measured through the built hooklessd as a user runs it:
// a PostgreSQL server of the bench's own (tests/support/pg_server), the fake Extend API at 10/s.
#include "bench/cluster_bench.hpp"

#include "bench/batched_registration.hpp"
#include "bench/hookless_contender.hpp"
#include "bench/run_mix.hpp"
#include "tests/support/fake_extend.hpp"
#include "tests/support/pg_server.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hookless::bench {

namespace json = boost::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::string pending_id(std::size_t i) { return "exr_cluster_" + std::to_string(i); }

struct health_view {
  std::string role;
  std::size_t pending = 0;
};

std::optional<health_view> health_of(const blackbox::daemon_process& daemon) {
  try {
    const auto answer = blackbox::control_request(daemon.socket(), "GET", "/v1/health", {}, 5s);
    if (answer.status != 200) return std::nullopt;
    const auto body = answer.json().as_object();
    health_view view;
    if (const auto* pending = body.if_contains("pending"); pending && pending->is_number()) {
      view.pending = pending->to_number<std::size_t>();
    }
    if (const auto* cluster = body.if_contains("cluster"); cluster && cluster->is_object()) {
      view.role = blackbox::string_field(cluster->get_object(), "role");
    }
    return view;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Waits (polling every 10 ms) until `done`, or throws naming `what` after `limit`.
void await(const std::function<bool()>& done, std::chrono::milliseconds limit, const std::string& what) {
  if (!blackbox::wait_until(done, limit, 10ms)) throw std::runtime_error(what + " did not happen in time");
}

// The daemons of one measurement, each in its own folder, sharing the fake and (with a URL) a database.
class bench_cluster {
 public:
  bench_cluster(const fs::path& dir, std::string database_url) : dir_{dir}, database_url_{std::move(database_url)} {
    fs::create_directories(dir_);
    fake_extend_options options;
    options.rate_limit = 10.0;
    options.record_requests = false;
    fake_ = std::make_unique<fake_extend>(options);
    fake_->start();
    fake_->write_ca(dir_ / "fake-ca.pem");
  }

  fake_extend& fake() { return *fake_; }

  blackbox::daemon_process& add(const std::string& name) {
    const auto folder = dir_ / name;
    fs::create_directories(folder);
    auto c = bench_daemon_config(folder, fake_->base_url(), dir_ / "fake-ca.pem", {});
    c.state_url = database_url_;
    if (!database_url_.empty()) c.cluster_node = name;
    daemons_.push_back(std::make_unique<blackbox::daemon_process>(folder, c));
    return *daemons_.back();
  }

  static void start(blackbox::daemon_process& daemon) {
    if (!daemon.start({}, 60s)) throw std::runtime_error("hooklessd did not start; its log:\n" + tail(daemon.log()));
  }

  static std::string tail(const std::string& log) { return log.substr(log.size() > 3000 ? log.size() - 3000 : 0); }

 private:
  fs::path dir_;
  std::string database_url_;
  std::unique_ptr<fake_extend> fake_;
  std::vector<std::unique_ptr<blackbox::daemon_process>> daemons_;  // destroyed before the fake
};

void add_endless_runs(fake_extend& fake, std::size_t runs) {
  std::vector<run_script> scripts;
  for (std::size_t i = 0; i < runs; ++i) scripts.push_back(endless_run(pending_id(i)));
  fake.add_runs(std::move(scripts));
}

// PostgreSQL: a registers the runs; b joins as a standby; a resigns (SIGTERM) and b resumes them.
void measure_postgres_resume(const fs::path& dir, const std::string& url, std::size_t runs, cluster_result& result) {
  bench_cluster cluster{dir, url};
  add_endless_runs(cluster.fake(), runs);
  auto& a = cluster.add("a");
  auto& b = cluster.add("b");
  bench_cluster::start(a);
  await([&] { return health_of(a).value_or(health_view{}).role == "poller"; }, 30s, "a becoming the poller");
  result.postgres_registration = register_batched(a, runs, pending_id);
  bench_cluster::start(b);
  await([&] { return health_of(b).value_or(health_view{}).role == "standby"; }, 30s, "b joining as a standby");

  const auto resigned = steady::now();
  if (a.terminate(60s) != 0) result.notes.push_back("a did not exit 0 on SIGTERM");
  await([&] { return health_of(b).value_or(health_view{}).role == "poller"; }, 60s, "b taking the poller role");
  result.postgres_lease_seconds = seconds_since(resigned);
  await(
      [&] {
        const auto h = health_of(b);
        return h && h->role == "poller" && h->pending >= runs;
      },
      120s, "b holding every pending run");
  result.postgres_resume_seconds = seconds_since(resigned);
  b.terminate(60s);
}

void measure_sqlite(const fs::path& dir, std::size_t runs, cluster_result& result) {
  bench_cluster single{dir, ""};
  add_endless_runs(single.fake(), runs);
  auto& daemon = single.add("single");
  bench_cluster::start(daemon);
  result.sqlite_registration = register_batched(daemon, runs, pending_id);
  if (daemon.terminate(60s) != 0) result.notes.push_back("the SQLite daemon did not exit 0 on SIGTERM");
  const auto restarted = steady::now();
  bench_cluster::start(daemon);
  await([&] { return health_of(daemon).value_or(health_view{}).pending >= runs; }, 120s,
        "the SQLite daemon holding every pending run");
  result.sqlite_ready_seconds = seconds_since(restarted);
  daemon.terminate(60s);
}

// Kills the poller right after it registered runs that finish 1 s later; the other daemon adopts
// them: the time until the first of them is in its file sink. The killed one comes back between.
void measure_takeovers(const fs::path& dir, const std::string& url, int takeovers, cluster_result& result) {
  bench_cluster cluster{dir, url};
  std::vector<blackbox::daemon_process*> nodes{&cluster.add("a"), &cluster.add("b")};
  for (auto* node : nodes) bench_cluster::start(*node);
  for (int round = 0; round < takeovers; ++round) {
    std::size_t poller = 0;
    await(
        [&] {
          for (std::size_t i = 0; i < nodes.size(); ++i) {
            if (health_of(*nodes[i]).value_or(health_view{}).role == "poller") {
              poller = i;
              return health_of(*nodes[1 - i]).value_or(health_view{}).role == "standby";
            }
          }
          return false;
        },
        60s, "one poller and one standby");
    auto& victim = *nodes[poller];
    auto& adopter = *nodes[1 - poller];
    json::array batch;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
      ids.push_back("exr_takeover_" + std::to_string(round) + "_" + std::to_string(i));
      cluster.fake().add_run(
          {.id = ids.back(), .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 1000ms}}, .fields = {}});
      batch.push_back(json::object{{"id", ids.back()}});
    }
    if (victim.register_runs(batch).status != 201) throw std::runtime_error("the poller refused the takeover runs");
    const auto killed = steady::now();
    victim.kill_now();
    await(
        [&] {
          const auto lines = blackbox::read_json_lines(adopter.config().events_file);
          for (const auto& id : ids) {
            if (!blackbox::events_of(lines, id).empty()) return true;
          }
          return false;
        },
        90s, "the adopter delivering the killed poller's runs");
    result.takeover_seconds.push_back(seconds_since(killed));
    std::fprintf(stderr, "[bench]   takeover %d: %.1f s\n", round + 1, result.takeover_seconds.back());
    bench_cluster::start(victim);
  }
}

std::string figure(double value, const char* unit, int decimals = 2) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f %s", decimals, value, unit);
  return text;
}

std::string met(bool ok) { return ok ? "met" : "**missed**"; }

}  // namespace

cluster_result cluster_bench(const cluster_settings& settings) {
  cluster_result result;
  result.runs = settings.runs;
  const blackbox::temp_dir dir;
  test::pg_server database;
  const auto attempt = [&](const char* what, const std::function<void()>& measure) {
    std::fprintf(stderr, "[bench] cluster: %s\n", what);
    try {
      measure();
    } catch (const std::exception& e) {
      result.notes.push_back(std::string{what} + ": the harness failed: " + e.what());
    }
  };
  attempt("registration and resume on PostgreSQL",
          [&] { measure_postgres_resume(dir / "postgres", database.create_database(), settings.runs, result); });
  attempt("registration and restart on SQLite", [&] { measure_sqlite(dir / "sqlite", settings.runs, result); });
  if (settings.takeovers > 0) {
    attempt("takeovers",
            [&] { measure_takeovers(dir / "takeover", database.create_database(), settings.takeovers, result); });
  }
  return result;
}

std::string render_cluster_markdown(const cluster_result& r) {
  std::ostringstream md;
  md << "\n#### Several daemons on one PostgreSQL database (issue 14), " << r.runs << " pending runs\n\n"
     << "| figure | PostgreSQL | SQLite |\n|---|---:|---:|\n"
     << "| registration, batches of 10,000, durable | " << figure(r.postgres_registration, "runs/s", 0) << " | "
     << figure(r.sqlite_registration, "runs/s", 0) << " |\n"
     << "| lease taken over after the poller resigns | " << figure(r.postgres_lease_seconds, "s") << " | - |\n"
     << "| every pending run in the (new) poller's tracker | " << figure(r.postgres_resume_seconds, "s")
     << " after the resign | " << figure(r.sqlite_ready_seconds, "s") << " after a restart |\n";
  double worst = 0;
  std::string takeovers;
  for (const auto t : r.takeover_seconds) {
    worst = std::max(worst, t);
    takeovers += (takeovers.empty() ? "" : ", ") + figure(t, "s", 1);
  }
  md << "| takeover: SIGKILL of the poller to the first delivery of its runs by the other daemon | "
     << (takeovers.empty() ? "-" : takeovers) << " | - |\n\n";
  md << "| target (issue 14) | measured | outcome |\n|---|---|---|\n"
     << "| registration on PostgreSQL >= 5,000 runs/s batched, durable | "
     << figure(r.postgres_registration, "runs/s", 0) << " | " << met(r.postgres_registration >= 5000) << " |\n"
     << "| a new poller resumes " << r.runs << " pending runs in <= 2 s (load, into the tracker) | "
     << figure(r.postgres_resume_seconds - r.postgres_lease_seconds, "s") << " after it took the lease | "
     << met(r.postgres_resume_seconds > 0 && r.postgres_resume_seconds - r.postgres_lease_seconds <= 2.0) << " |\n"
     << "| takeover <= 20 s from the kill (10 s to be declared dead + 10 s) | "
     << (takeovers.empty() ? std::string{"-"} : figure(worst, "s", 1) + " worst") << " | "
     << met(!r.takeover_seconds.empty() && worst <= 20.0) << " |\n";
  for (const auto& note : r.notes) md << "\n- " << note;
  md << "\n";
  return md.str();
}

}  // namespace hookless::bench
