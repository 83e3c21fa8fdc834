// The benchmark's workload: N extract runs with seeded, realistic lives (finishing from a few
// seconds to four minutes after creation, one in twenty failing), as scripts for the fake Extend API.
#pragma once

#include "tests/support/fake_extend_model.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hookless::bench {

struct bench_run {
  std::string id;
  std::chrono::milliseconds finishes_after{0};  // from its creation at the fake
  std::string final_status;                     // PROCESSED or FAILED
};

struct mix_settings {
  std::size_t runs = 1'000;
  double time_scale = 1.0;  // multiplies every finish time (quick mode shrinks them)
  std::uint32_t seed = 6;
};

// 20 % finish within 5-30 s, 60 % within 30-120 s, 20 % within 120-240 s (times time_scale).
std::vector<bench_run> make_mix(const mix_settings& settings);

// PENDING at creation, PROCESSING after min(1 s, half its life), then its final status.
std::vector<run_script> scripts_of(const std::vector<bench_run>& mix);

// A pending run that never finishes (for the throughput and memory figures).
run_script endless_run(std::string id);

std::chrono::milliseconds last_finish(const std::vector<bench_run>& mix);

}  // namespace hookless::bench
