// What hooklessd still holds once work is done (issue 12), from its VmRSS: runs finishing with
// large outputs while others stay pending, and reloads that change a sink which has a backlog of
// large deliveries it cannot deliver (its receiver is down).
#pragma once

#include "bench/hookless_contender.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace hookless::bench {

struct memory_settings {
  std::size_t finishing = 1'000;  // runs that finish with a large output
  std::size_t waiting = 300;      // runs pending meanwhile
  std::size_t backlog = 300;      // undone deliveries when the sink is reloaded
  int reloads = 4;                // SIGHUPs, each changing the sink's timeout
  std::size_t output_bytes = 200'000;
  hookless_options daemon;  // list_endpoints
};

struct memory_result {
  std::string scenario;  // what was done, for the table
  std::string contender;
  std::uint64_t rss_before = 0;   // bytes, before the work
  std::uint64_t rss_after = 0;    // bytes, as soon as it is done
  std::uint64_t rss_at_rest = 0;  // bytes, 11 s later: past the daemon's next heap trim
  double limit_mib = 0;           // the target: growth at most this much
  std::string note;

  // Over rss_before: the larger of the two readings after (0 if it shrank).
  std::uint64_t growth() const {
    const auto after = std::max(rss_after, rss_at_rest);
    return after > rss_before ? after - rss_before : 0;
  }
};

// `finishing` runs finish with outputs of `output_bytes` while `waiting` runs stay pending.
memory_result finished_runs_memory(const memory_settings& settings);
// `backlog` runs finish with outputs of `output_bytes` for an http sink that is down; then
// `reloads` SIGHUPs each change its timeout.
memory_result reload_memory(const memory_settings& settings);

}  // namespace hookless::bench
