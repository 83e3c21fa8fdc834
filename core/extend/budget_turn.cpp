// A request's turns of the request budget, and its answer recorded there.
#include "core/extend/budget_turn.hpp"

namespace hookless {

budget_turn::budget_turn(request_budget& budget, boost::asio::steady_timer& wake, request_place where,
                         std::function<bool()> gone)
    : budget_(budget), wake_(wake), where_(where), gone_(std::move(gone)) {}

run_source::send_turn budget_turn::waiter() {
  return [this] { return take(); };
}

awaitable<bool> budget_turn::take() {
  if (gone_()) {
    abandoned_ = true;
    co_return false;
  }
  const bool granted = co_await budget_.acquire(wake_, where_);
  if (granted && gone_()) budget_.release();  // stopped while it waited: the turn goes to the next
  abandoned_ = !granted || gone_();
  sent_ = sent_ || !abandoned_;
  co_return !abandoned_;
}

void budget_turn::record(answer_kind kind, std::optional<std::chrono::milliseconds> retry_after) {
  if (!sent_) return;
  const auto what = kind == answer_kind::rate_limited   ? refusal::rate_limited
                    : kind == answer_kind::unauthorized ? refusal::unauthorized
                                                        : refusal::none;
  budget_.record(what, retry_after);
}

}  // namespace hookless
