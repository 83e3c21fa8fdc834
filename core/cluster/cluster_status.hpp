// What one daemon of several sharing a database knows of the cluster, for health and metrics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hookless {

struct cluster_status {
  std::string node;                     // cluster.node
  bool poller = false;                  // holds the poller lease now (and trusts it on its own clock)
  std::uint64_t term = 0;               // the poller term last held, 0 before any
  std::vector<std::string> live_nodes;  // nodes with a fresh heartbeat, by name, this one included
  std::vector<std::string> homes;       // nodes whose runs this daemon delivers: its own and adopted ones
  std::uint64_t takeovers = 0;          // homes adopted by this daemon since it started
  std::uint64_t poller_terms = 0;       // times this daemon became the poller since it started
  bool store_reachable = true;          // the last call to the database answered
};

}  // namespace hookless
