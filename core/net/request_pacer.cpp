// The request budget's arithmetic: spacing, pauses and the probe, the 429 cut and its regrowth.
#include "core/net/request_pacer.hpp"

#include <algorithm>

namespace hookless {

using steady_clock = std::chrono::steady_clock;

namespace {

// R requests are spread over a second and a little more, so that the network's jitter (a slow
// connect or a delayed packet, up to this much) never puts R + 1 arrivals into one second at Extend.
constexpr std::chrono::duration<double> jitter_allowance{0.05};

steady_clock::duration spacing_for(double requests_per_second) {
  const auto spacing = (std::chrono::seconds{1} + jitter_allowance) / requests_per_second;
  return std::chrono::duration_cast<steady_clock::duration>(spacing);
}

}  // namespace

request_pacer::request_pacer(options settings)
    : settings_(settings),
      configured_rate_(settings.requests_per_second),
      cut_rate_(settings.requests_per_second),
      next_rate_limited_pause_(settings.rate_limited_pause) {}

request_pacer::steady_time request_pacer::next_turn_at(steady_time now) {
  if (probe_deadline_ && *probe_deadline_ <= now) probe_deadline_.reset();  // never reported: hold no longer
  auto at = std::max(next_free_, paused_until_);
  if (probe_deadline_) at = std::max(at, *probe_deadline_);
  return at;
}

void request_pacer::grant(steady_time now) {
  next_free_ = std::max(now, next_free_) + spacing_for(rate(now));
  ++granted_;
  if (probe_due_) {
    probe_due_ = false;
    probe_deadline_ = now + settings_.probe_timeout;
  }
}

// While a probe is out nothing else is granted, so a turn handed back then is the probe's.
void request_pacer::release() {
  if (!probe_deadline_) return;
  probe_deadline_.reset();
  probe_due_ = true;
}

bool request_pacer::record(refusal answer, std::optional<std::chrono::milliseconds> retry_after, steady_time now) {
  switch (answer) {
    case refusal::rate_limited: {
      const bool cut = paused_until_ <= now;  // during a pause: a request sent before it
      if (cut) slow_down(now);
      const auto delay = retry_after.value_or(next_rate_limited_pause_);
      next_rate_limited_pause_ = std::min(next_rate_limited_pause_ * 2, settings_.longest_rate_limited_pause);
      pause(now + std::max(delay, std::chrono::milliseconds{1}));
      return cut;
    }
    case refusal::unauthorized: pause(now + settings_.unauthorized_pause); return false;
    case refusal::none:
      next_rate_limited_pause_ = settings_.rate_limited_pause;
      probe_deadline_.reset();
      return false;
  }
  return false;
}

void request_pacer::pause(steady_time until) {
  paused_until_ = std::max(paused_until_, until);
  probe_due_ = true;
  probe_deadline_.reset();
}

void request_pacer::set_rate(double requests_per_second) {
  configured_rate_ = requests_per_second;
  cut_rate_ = requests_per_second;
}

double request_pacer::rate(steady_time now) const {
  if (cut_rate_ >= configured_rate_) return configured_rate_;
  const auto periods = (now - cut_at_) / settings_.regrowth_period;
  const auto regrown = configured_rate_ * settings_.regrowth_share * static_cast<double>(periods);
  return std::min(configured_rate_, cut_rate_ + regrown);
}

void request_pacer::slow_down(steady_time now) {
  const auto lowest = configured_rate_ * settings_.lowest_rate_share;
  cut_rate_ = std::max(lowest, rate(now) * settings_.rate_kept_after_429);
  cut_at_ = now;
}

std::optional<request_pacer::steady_time> request_pacer::paused_until(steady_time now) const {
  if (paused_until_ > now) return paused_until_;
  return std::nullopt;
}

}  // namespace hookless
