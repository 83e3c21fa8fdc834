// The seeded workload of bench_run (see run_mix.hpp).
#include "bench/run_mix.hpp"

#include <algorithm>
#include <random>

namespace hookless::bench {

using std::chrono::milliseconds;

std::vector<bench_run> make_mix(const mix_settings& settings) {
  std::mt19937 random{settings.seed};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  std::vector<bench_run> mix;
  mix.reserve(settings.runs);
  for (std::size_t i = 0; i < settings.runs; ++i) {
    const double band = unit(random);
    const auto [low, high] = band < 0.2   ? std::pair{5.0, 30.0}
                             : band < 0.8 ? std::pair{30.0, 120.0}
                                          : std::pair{120.0, 240.0};
    const double seconds = (low + (high - low) * unit(random)) * settings.time_scale;
    const bool fails = unit(random) < 0.05;
    mix.push_back({"exr_bench_" + std::to_string(i), milliseconds{static_cast<long long>(seconds * 1000)},
                   fails ? "FAILED" : "PROCESSED"});
  }
  return mix;
}

std::vector<run_script> scripts_of(const std::vector<bench_run>& mix) {
  std::vector<run_script> scripts;
  scripts.reserve(mix.size());
  for (const auto& run : mix) {
    const auto processing = std::min(milliseconds{1000}, run.finishes_after / 2);
    scripts.push_back(
        {.id = run.id,
         .kind = "extract_run",
         .timeline = {{"PENDING", milliseconds{0}}, {"PROCESSING", processing}, {run.final_status, run.finishes_after}},
         .fields = {}});
  }
  return scripts;
}

run_script endless_run(std::string id) {
  return {.id = std::move(id), .kind = "extract_run", .timeline = {{"PROCESSING", milliseconds{0}}}, .fields = {}};
}

milliseconds last_finish(const std::vector<bench_run>& mix) {
  milliseconds last{0};
  for (const auto& run : mix) last = std::max(last, run.finishes_after);
  return last;
}

}  // namespace hookless::bench
