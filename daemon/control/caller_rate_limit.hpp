// Per-uid request rate limit of the control API (control.requests_per_second_per_user): one token
// bucket per uid, refilled at the configured rate with a burst of one second's worth. Pure: the
// time is passed in, so it is tested without sleeping.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <unordered_map>

namespace hookless {

class caller_rate_limit {
 public:
  using clock = std::chrono::steady_clock;

  explicit caller_rate_limit(double requests_per_second)
      : rate_(requests_per_second), burst_(std::max(1.0, requests_per_second)) {}

  // True when `uid` may make one more request at `now` (and counts it); false means 429 busy.
  bool allow(std::uint32_t uid, clock::time_point now) {
    auto [it, fresh] = buckets_.try_emplace(uid, bucket{burst_, now});
    auto& b = it->second;
    if (!fresh) {
      const std::chrono::duration<double> elapsed = now - b.updated;
      b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed.count()) * rate_);
      b.updated = std::max(b.updated, now);
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    // A full bucket says nothing a fresh one would not: forget it, so the map holds only uids
    // that are busy right now.
    if (buckets_.size() > 4096 && now - last_prune_ >= std::chrono::seconds{1}) {
      last_prune_ = now;
      forget_full(now);
    }
    return true;
  }

  double rate() const { return rate_; }

 private:
  struct bucket {
    double tokens;
    clock::time_point updated;
  };

  void forget_full(clock::time_point now) {
    std::erase_if(buckets_, [&](const auto& item) {
      const std::chrono::duration<double> elapsed = now - item.second.updated;
      return item.second.tokens + elapsed.count() * rate_ >= burst_;
    });
  }

  double rate_;
  double burst_;
  std::unordered_map<std::uint32_t, bucket> buckets_;
  clock::time_point last_prune_{};
};

}  // namespace hookless
