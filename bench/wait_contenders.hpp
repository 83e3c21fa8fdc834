// The scenario "N runs finish over minutes under Extend's rate limit": each contender (hooklessd,
// the SDK's helper) waits for the same mix against its own fake Extend API loaded with it, and is
// measured the same way: runs lost, requests and 429s the fake counted, finish-to-delivery latency
// (finish: the fake's schedule; delivery: when the run reached the application), RSS and CPU.
#pragma once

#include "bench/latency_summary.hpp"
#include "bench/process_usage.hpp"
#include "bench/run_mix.hpp"
#include "tests/support/fake_extend.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookless::bench {

namespace fs = std::filesystem;

struct wait_settings {
  std::optional<double> rate_limit = 10;  // at the fake, requests/s over 1 s; nullopt: none
  std::chrono::milliseconds limit{0};     // a run not delivered this long after creation is lost
  bool faults = false;                    // one injected fault for every 20th run (see mix_fake)
};

struct wait_result {
  std::string contender;
  std::size_t runs = 0;
  std::size_t delivered = 0;
  std::size_t lost = 0;                             // given up on, or not delivered within the limit
  std::map<std::string, std::size_t> lost_because;  // why, as the contender said
  std::uint64_t requests = 0;                       // as the fake counted them
  std::uint64_t responses_429 = 0;
  latency_summary latency;             // finish to delivery, seconds
  std::optional<process_usage> usage;  // at the end, before it was stopped
  double seconds = 0;                  // creation to the last delivery
  std::string note;                    // why it did not run, or what went wrong
};

// A fake Extend API on 127.0.0.1 holding the mix, every run created at one instant.
class mix_fake {
 public:
  // With `faults`, every 20th run's next request meets one of 500, 503, a cut connection, a 2 s
  // delay, a truncated body or malformed JSON, in turn (no 429: those count as caused).
  mix_fake(const fs::path& dir, const wait_settings& settings, const std::vector<bench_run>& mix);

  fake_extend& fake() { return *fake_; }
  const fs::path& ca_file() const { return ca_file_; }
  fake_clock::time_point created() const { return created_; }
  fake_clock::time_point finish_time(const bench_run& run) const { return created_ + run.finishes_after; }
  // The same instants on the wall clock, for contenders in other processes.
  std::chrono::system_clock::time_point created_wall() const { return created_wall_; }
  std::chrono::system_clock::time_point finish_wall(const bench_run& run) const {
    return created_wall_ + run.finishes_after;
  }

  // Requests and 429s the fake counted, into `result`.
  void count_requests(wait_result& result) const;

 private:
  std::unique_ptr<fake_extend> fake_;
  fs::path ca_file_;
  fake_clock::time_point created_;
  std::chrono::system_clock::time_point created_wall_;
};

// The mix's runs by ID.
std::map<std::string, const bench_run*> index_by_id(const std::vector<bench_run>& mix);

}  // namespace hookless::bench
