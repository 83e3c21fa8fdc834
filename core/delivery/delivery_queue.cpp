// One sink's outbox worker: a dispatcher that hands ready deliveries to the sink, one coroutine per
// delivery in flight, and the retry / dead-letter decisions when they come back.
#include "core/delivery/delivery_queue.hpp"

#include "core/formats/timestamp.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <ctime>
#include <random>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

// Capped exponential backoff with jitter (AWS's advice): uniform in [delay/2, delay].
milliseconds backoff(const delivery_queue::retry_policy& policy, unsigned attempts) {
  const auto doubled = policy.first_delay * (1LL << std::min(std::max(attempts, 1U) - 1, 20U));
  const auto capped = std::min<milliseconds>(doubled, policy.longest_delay);
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<milliseconds::rep> spread(capped.count() / 2, capped.count());
  return milliseconds{spread(random)};
}

delivery_limits limits_of(sink& target) {
  const auto* limited = dynamic_cast<const limited_sink*>(&target);
  auto limits = limited ? limited->limits() : delivery_limits{};
  limits.max_in_flight = std::max<std::size_t>(limits.max_in_flight, 1);
  return limits;
}

}  // namespace

std::optional<time_point> detected_at_of(std::string_view body) {
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const auto* extra = parsed.as_object().if_contains("hookless");
  if (extra == nullptr || !extra->is_object()) return std::nullopt;
  const auto* detected = extra->as_object().if_contains("detectedAt");
  if (detected == nullptr || !detected->is_string()) return std::nullopt;
  return parse_time(std::string_view{detected->as_string()});
}

delivery_queue::delivery_queue(asio::any_io_executor executor, std::string sink_name, sink& target, state_store& store,
                               retry_policy policy)
    : sink_name_(std::move(sink_name)),
      target_(target),
      store_(store),
      policy_(policy),
      limits_(limits_of(target)),
      executor_(executor),
      wake_(std::move(executor)) {}

void delivery_queue::push(delivery_job job) {
  const auto now = clock_type::now();
  entry item{.job = std::move(job),
             .not_before = steady::now(),
             .dead_at = std::nullopt,
             .in_flight = false,
             .dropped = false};
  const auto& record = item.job.record;
  if (record.next_attempt_at && *record.next_attempt_at > now) item.not_before += *record.next_attempt_at - now;
  if (limits_.max_age) {
    const auto since = record.redelivered_at ? record.redelivered_at : detected_at_of(item.job.body);
    item.dead_at = since.value_or(now) + *limits_.max_age;
  }
  const auto run_id = record.run_id;
  auto& chain = runs_[run_id];
  const bool first = chain.empty();
  chain.push_back(std::move(item));
  ++backlog_;
  if (first) {
    ready_.push_back(run_id);
    wake_.cancel();
  }
}

bool delivery_queue::hurry(const delivery_job& job) {
  const auto found = runs_.find(job.record.run_id);
  if (found == runs_.end()) return false;
  auto& chain = found->second;
  const auto item = std::ranges::find_if(chain, [&job](const entry& e) { return e.job.record.id == job.record.id; });
  if (item == chain.end()) return false;
  if (item->in_flight) return true;
  item->job.record.next_attempt_at.reset();
  item->job.record.redelivered_at = job.record.redelivered_at;
  item->not_before = steady::now();
  if (limits_.max_age) item->dead_at = job.record.redelivered_at.value_or(clock_type::now()) + *limits_.max_age;
  if (item == chain.begin()) {
    // A stale mention of the run in waiting_ is harmless: dispatch looks at the head again.
    ready_.push_back(job.record.run_id);
    wake_.cancel();
  }
  return true;
}

void delivery_queue::drop_run(const std::string& run_id) {
  const auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  auto& chain = found->second;
  const std::size_t keep = !chain.empty() && chain.front().in_flight ? 1 : 0;
  if (keep == 1) chain.front().dropped = true;
  backlog_ -= chain.size() - keep;
  chain.erase(chain.begin() + static_cast<std::ptrdiff_t>(keep), chain.end());
  if (chain.empty()) runs_.erase(found);  // stale ready_/waiting_ mentions are skipped when met
}

void delivery_queue::drop_home(const std::string& home) {
  std::vector<std::string> dropped;  // (drop_run erases from runs_)
  for (const auto& [run_id, chain] : runs_) {
    if (!chain.empty() && chain.front().job.home == home) dropped.push_back(run_id);
  }
  for (const auto& run_id : dropped) drop_run(run_id);
}

void delivery_queue::stop() {
  stopped_ = true;
  runs_.clear();
  ready_.clear();
  waiting_.clear();
  backlog_ = 0;
  wake_.cancel();
}

void delivery_queue::next_of_run(const std::string& run_id) {
  const auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  if (found->second.empty()) {
    runs_.erase(found);
    return;
  }
  ready_.push_back(run_id);
}

void delivery_queue::start(const std::string& run_id, entry& head) {
  head.in_flight = true;
  ++in_flight_;
  // A copy of the job: the entry may move (or go, if the queue stops) while the sink works.
  asio::co_spawn(executor_, attempt(run_id, head.job), [self = shared_from_this()](std::exception_ptr failure) {
    if (failure && !self->failure_) self->failure_ = failure;
    if (failure) self->wake_.cancel();
  });
}

// Starts what may start now; leaves the timer set for the next time something may.
void delivery_queue::dispatch() {
  const auto now = steady::now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    ready_.push_back(std::move(waiting_.begin()->second));
    waiting_.erase(waiting_.begin());
  }
  // After a failure, probe with one request at a time until the sink takes one again.
  const std::size_t capacity = failures_ > 0 ? 1 : limits_.max_in_flight;
  while (in_flight_ < capacity && now >= paused_until_ && !ready_.empty()) {
    const auto run_id = std::move(ready_.front());
    ready_.pop_front();
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.empty()) continue;  // dropped meanwhile
    auto& head = found->second.front();
    if (head.in_flight) continue;  // a second mention of a run already going
    if (head.not_before > now) {
      waiting_.emplace(head.not_before, run_id);
      continue;
    }
    start(run_id, head);
  }
  auto next = steady_time::max();
  if (in_flight_ < capacity) {
    if (!ready_.empty()) next = paused_until_;
    if (!waiting_.empty()) next = std::min(next, std::max(waiting_.begin()->first, paused_until_));
  }
  wake_.expires_at(next);
}

awaitable<void> delivery_queue::run() {
  while (!stopped_ && !failure_) {
    dispatch();
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (failure_) {
    stopped_ = true;  // deliveries still in flight come back to a stopped queue
    std::rethrow_exception(failure_);
  }
}

awaitable<void> delivery_queue::attempt(std::string run_id, delivery_job job) {
  const auto result = co_await target_.deliver(job);
  --in_flight_;
  if (stopped_) {
    // Stopped meanwhile (a reload retired this queue): a delivery the sink took is still recorded,
    // so the queue that replaces this one does not send it again. A failure is left as it was.
    if (result.delivered) {
      auto record = job.record;
      ++record.attempts;
      record.state = delivery_state::done;
      record.last_error.reset();
      record.next_attempt_at.reset();
      co_await store_.update_delivery(record);
    }
    co_return;
  }
  wake_.cancel();  // a slot is free, or the sink is failing: let the dispatcher look again

  const auto found = runs_.find(run_id);
  if (found == runs_.end() || found->second.empty() || found->second.front().job.record.id != job.record.id) {
    co_return;  // cannot happen (drop_run keeps an entry in flight); nothing to update if it did
  }
  auto& head = found->second.front();
  auto record = head.job.record;
  ++record.attempts;

  if (result.delivered) {
    record.state = delivery_state::done;
    record.last_error.reset();
    record.next_attempt_at.reset();
    found->second.pop_front();
    --backlog_;
    if (failures_ > 0) {
      // The sink takes deliveries again: what waits out a backoff from while it was down goes now.
      const auto now = steady::now();
      for (auto& [due, waiting_run] : waiting_) {
        const auto chain = runs_.find(waiting_run);
        if (chain != runs_.end() && !chain->second.empty()) chain->second.front().not_before = now;
        ready_.push_back(std::move(waiting_run));
      }
      waiting_.clear();
    }
    failures_ = 0;
    ++delivered_;
    next_of_run(run_id);
    co_await store_.update_delivery(record);
    spdlog::debug("delivered event_id={} run_id={} sink={} attempts={}", record.event_id, record.run_id, sink_name_,
                  record.attempts);
    co_return;
  }

  ++failures_;
  last_error_ = result.error;
  if (head.dropped) {  // forgotten: its records are gone, nothing more is delivered for it
    found->second.pop_front();
    --backlog_;
    next_of_run(run_id);
    co_return;
  }
  record.last_error = result.error;
  const auto now = clock_type::now();
  auto delay = backoff(policy_, record.attempts);
  if (result.retry_after) {
    const auto asked = std::min(*result.retry_after, policy_.longest_retry_after);
    delay = std::max(delay, asked);
    paused_until_ = std::max(paused_until_, steady::now() + asked);  // the receiver asked every request to wait
  }
  if (head.dead_at && now >= *head.dead_at) {
    record.state = delivery_state::dead;
    record.next_attempt_at.reset();
    found->second.pop_front();
    --backlog_;
    ++dead_;
    next_of_run(run_id);
    spdlog::error("delivery dead after {} attempts (max_age passed) event_id={} run_id={} sink={}: {}", record.attempts,
                  record.event_id, record.run_id, sink_name_, result.error);
    co_await store_.update_delivery(record);
    co_return;
  }
  // The last attempt goes at the deadline itself, so max_age is the time a receiver has to come back.
  if (head.dead_at && now + delay > *head.dead_at) {
    delay = std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(*head.dead_at - now));
  }
  record.next_attempt_at = now + delay;
  head.job.record = record;
  head.in_flight = false;
  head.not_before = steady::now() + delay;
  waiting_.emplace(head.not_before, run_id);
  spdlog::warn("delivery failed event_id={} run_id={} sink={} attempt={} retry_in={}ms: {}", record.event_id,
               record.run_id, sink_name_, record.attempts, delay.count(), result.error);
  co_await store_.update_delivery(record);
}

}  // namespace hookless
