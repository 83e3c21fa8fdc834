// Several daemons on one PostgreSQL database (issue 14), beside the same figures on SQLite where
// they exist: how fast hooklessd registers runs in batches of 10,000 (each answer only once they
// are committed), how long a new poller takes to resume 100,000 pending runs (the old one resigns:
// from its SIGTERM until the new poller's tracker holds every run; SQLite: a restart until the
// tracker holds them), and the takeover time (SIGKILL of the poller, which is also the home of runs
// that finish meanwhile, until the first of them reaches the other daemon's file sink).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hookless::bench {

struct cluster_settings {
  std::size_t runs = 100'000;  // pending runs for registration and resume
  int takeovers = 3;           // kills of the poller, one after the other
};

struct cluster_result {
  std::size_t runs = 0;
  double postgres_registration = 0;  // runs/s, batched, durable
  double sqlite_registration = 0;
  double postgres_lease_seconds = 0;   // resign (SIGTERM) -> the standby says it is the poller
  double postgres_resume_seconds = 0;  // resign -> the new poller's tracker holds every pending run
  double sqlite_ready_seconds = 0;     // restart -> the tracker holds every pending run
  std::vector<double> takeover_seconds;
  std::vector<std::string> notes;  // what failed, if anything
};

cluster_result cluster_bench(const cluster_settings& settings);

// The section of the benchmark's Markdown for these figures, with the targets of issue 14.
std::string render_cluster_markdown(const cluster_result& result);

}  // namespace hookless::bench
