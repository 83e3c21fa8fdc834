// The fake each waiting contender runs against (see wait_contenders.hpp).
#include "bench/wait_contenders.hpp"

#include <array>

namespace hookless::bench {

mix_fake::mix_fake(const fs::path& dir, const wait_settings& settings, const std::vector<bench_run>& mix)
    : ca_file_{dir / "fake-ca.pem"} {
  fake_extend_options options;
  options.rate_limit = settings.rate_limit;
  options.record_requests = false;  // the counters suffice, and 10,000s of records per second add up
  fake_ = std::make_unique<fake_extend>(options);
  fake_->start();
  fake_->write_ca(ca_file_);
  if (settings.faults) {
    constexpr std::array kinds{fault_kind::status_500, fault_kind::status_503, fault_kind::cut,
                               fault_kind::slow,       fault_kind::truncated,  fault_kind::malformed};
    for (std::size_t i = 7; i < mix.size(); i += 20) {
      fake_->inject(
          {.kind = kinds[(i / 20) % kinds.size()], .run_id = mix[i].id, .count = 1, .delay = std::chrono::seconds{2}});
    }
  }
  created_ = fake_->add_runs(scripts_of(mix));
  created_wall_ = std::chrono::system_clock::now() -
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(fake_clock::now() - created_);
}

void mix_fake::count_requests(wait_result& result) const {
  const auto stats = fake_->stats();
  result.requests = stats.total_requests;
  result.responses_429 = stats.responses_429;
}

std::map<std::string, const bench_run*> index_by_id(const std::vector<bench_run>& mix) {
  std::map<std::string, const bench_run*> index;
  for (const auto& run : mix) index.emplace(run.id, &run);
  return index;
}

}  // namespace hookless::bench
