// The cluster runtime's loops: heartbeat and homes, the poller lease and its trust, picking new
// runs, taking deliveries.
#include "core/cluster/cluster_node.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// The pacer spreads a second's requests over a little more than a second (its jitter allowance):
// a resigning poller waits this long after its last grant before another may start.
constexpr milliseconds last_second{1'050};

}  // namespace

cluster_node::cluster_node(asio::any_io_executor executor, cluster_store& store, run_tracker& tracker,
                           request_budget& budget, cluster_timing timing, fatal_handler on_fatal)
    : executor_(executor),
      store_(store),
      tracker_(tracker),
      budget_(budget),
      timing_(timing),
      on_fatal_(std::move(on_fatal)),
      lease_(timing.lease_ttl, timing.trust_margin),
      heartbeat_timer_(executor),
      lease_timer_(executor),
      trust_timer_(executor),
      pick_timer_(executor),
      intake_timer_(executor) {
  budget_.close();
  status_.node = store_.node_name();
  status_.homes = {store_.node_name()};
}

cluster_node::~cluster_node() { stop(); }

void cluster_node::start() {
  const auto on_failure = [this](std::exception_ptr failure) {
    if (failure && !stopping_) on_fatal_(failure);
  };
  asio::co_spawn(executor_, heartbeat_loop(), on_failure);
  asio::co_spawn(executor_, lease_loop(), on_failure);
  asio::co_spawn(executor_, trust_loop(), on_failure);
  asio::co_spawn(executor_, pick_loop(), on_failure);
  asio::co_spawn(executor_, intake_loop(), on_failure);
  if (relay_) relay_->standby();  // not the poller before the first claim answers
}

void cluster_node::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (relay_) relay_->stop();
  lose("stopping");
  heartbeat_timer_.cancel();
  lease_timer_.cancel();
  trust_timer_.cancel();
  pick_timer_.cancel();
  intake_timer_.cancel();
}

cluster_status cluster_node::status() const {
  auto status = status_;
  status.poller = lease_.trusted(steady_clock::now());
  return status;
}

awaitable<void> cluster_node::sleep(asio::steady_timer& timer, steady_clock::time_point until) {
  timer.expires_at(until);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void cluster_node::store_answered() {
  if (!status_.store_reachable) spdlog::info("the database answers again");
  status_.store_reachable = true;
}

// The loop goes on and tries again; registrations meanwhile answer busy (the tracker's store calls
// throw the same error).
void cluster_node::store_failed_to_answer(const store_full& error, const char* call) {
  if (dynamic_cast<const store_unavailable*>(&error) != nullptr) {
    if (status_.store_reachable) spdlog::error("the database cannot be reached ({}: {}); retrying", call, error.what());
    status_.store_reachable = false;
  } else {
    spdlog::warn("the database refused {} ({}); retrying", call, error.what());
  }
}

// ---- heartbeat and homes ---------------------------------------------------------------------

awaitable<void> cluster_node::heartbeat_loop() {
  while (!stopping_) {
    const auto started = steady_clock::now();
    try {
      auto beat = co_await store_.heartbeat(timing_.dead_after);  // node_replaced: fatal, through start()
      store_answered();
      if (stopping_) break;
      take_homes(std::move(beat));
    } catch (const store_full& e) {
      store_failed_to_answer(e, "heartbeat");
    }
    co_await sleep(heartbeat_timer_, started + timing_.heartbeat_interval);
  }
}

void cluster_node::take_homes(heartbeat_result beat) {
  for (const auto& node : beat.adopted_now) {
    ++status_.takeovers;
    spdlog::warn("node '{}' has been silent for {}ms: this daemon takes over its runs' deliveries", node,
                 timing_.dead_after.count());
  }
  for (const auto& home : status_.homes) {
    if (std::ranges::find(beat.homes, home) != beat.homes.end()) continue;
    spdlog::info("node '{}' is no longer delivered for here (it came back, or another daemon took it)", home);
    tracker_.drop_home(home);
  }
  status_.homes = std::move(beat.homes);
  status_.live_nodes = std::move(beat.live_nodes);
}

// ---- the poller lease --------------------------------------------------------------------------

// Each claim goes renew_interval after the previous one was sent, however long it took to answer.
awaitable<void> cluster_node::lease_loop() {
  while (!stopping_ && !resigning_) {
    const auto sent = steady_clock::now();
    try {
      const auto term = co_await store_.claim_poller(timing_.lease_ttl);
      store_answered();
      if (stopping_ || resigning_) break;
      act_on(lease_.answered(term, sent, steady_clock::now()),
             term ? "the lease answered too late to trust" : "another daemon holds the poller lease");
    } catch (const store_full& e) {
      store_failed_to_answer(e, "claim_poller");  // the trust runs out by itself (trust_loop)
    }
    co_await sleep(lease_timer_, sent + timing_.renew_interval);
  }
}

// Switches polling off the moment the trust runs out, whatever the renewal is doing.
awaitable<void> cluster_node::trust_loop() {
  while (!stopping_) {
    act_on(lease_.check(steady_clock::now()), "the lease's trust ran out before a renewal answered");
    const auto until = lease_.holding() ? lease_.trusted_until() : steady_clock::time_point::max();
    co_await sleep(trust_timer_, until);  // act_on cancels it when the deadline moves
  }
}

void cluster_node::act_on(poller_lease::change change, const char* why) {
  switch (change) {
    case poller_lease::change::none: return;
    case poller_lease::change::lost: lose(why); return;
    case poller_lease::change::renewed:
      budget_.open_until(lease_.trusted_until());
      trust_timer_.cancel();
      return;
    case poller_lease::change::gained: {
      const auto term = lease_.term().value();
      status_.term = term;
      const auto round = ++status_.poller_terms;
      store_.set_poller_term(term);
      if (relay_) relay_->poller();  // the tracker publishes from now on
      budget_.open_until(lease_.trusted_until());
      trust_timer_.cancel();
      spdlog::info("this daemon is the poller (term {})", term);
      asio::co_spawn(executor_, take_over(round), [this](std::exception_ptr failure) {
        if (failure && !stopping_) on_fatal_(failure);
      });
      return;
    }
  }
}

// Becoming the poller: every pending run of the database is loaded and polled here. A load that
// fails gives the role up; the next renewal takes it again and loads again.
awaitable<void> cluster_node::take_over(std::uint64_t round) {
  try {
    co_await tracker_.start_polling();
    store_answered();
  } catch (const store_full& e) {
    store_failed_to_answer(e, "load_pending");
    if (status_.poller_terms == round && lease_.holding()) lose("the pending runs could not be loaded");
  }
}

// Nothing more leaves for Extend from here (the gate first), and nothing more is written under the
// lost term.
void cluster_node::lose(const char* why) {
  lease_.give_up();
  budget_.close();
  store_.set_poller_term(std::nullopt);
  if (relay_) relay_->standby();  // from the newest event: the tracker published those before it
  if (!tracker_.polling()) return;
  tracker_.stop_polling();
  spdlog::warn("this daemon is no longer the poller (term {}): {}", status_.term, why);
}

awaitable<void> cluster_node::resign() {
  resigning_ = true;
  lease_timer_.cancel();
  lose("resigning");
  if (const auto last = budget_.last_grant(); last && *last + last_second > steady_clock::now()) {
    asio::steady_timer pause{executor_};
    co_await sleep(pause, *last + last_second);
  }
  try {
    co_await store_.resign_poller();
  } catch (const store_full& e) {
    spdlog::warn("cannot give the poller lease up ({}); it expires in {}ms", e.what(), timing_.lease_ttl.count());
  }
}

// ---- new runs to the poller, deliveries to their home -----------------------------------------

awaitable<void> cluster_node::pick_loop() {
  while (!stopping_) {
    bool more = false;
    if (lease_.trusted(steady_clock::now()) && tracker_.polling()) {
      const auto round = status_.poller_terms;
      try {
        auto runs = co_await store_.pick_new_runs(timing_.pick_batch);
        store_answered();
        more = runs.size() >= timing_.pick_batch;
        tracker_.adopt_new_runs(std::move(runs));  // (ignored once polling is off)
      } catch (const lease_lost&) {
        if (status_.poller_terms == round) lose("picking new runs was refused: the lease was lost");
      } catch (const store_full& e) {
        store_failed_to_answer(e, "pick_new_runs");
      }
    }
    if (stopping_) break;
    if (!more) co_await sleep(pick_timer_, steady_clock::now() + timing_.pick_interval);
  }
}

awaitable<void> cluster_node::intake_loop() {
  while (!stopping_) {
    bool more = false;
    try {
      auto jobs = co_await store_.take_new_deliveries(timing_.intake_batch);
      store_answered();
      more = jobs.size() >= timing_.intake_batch;
      if (!stopping_) tracker_.deliver(std::move(jobs));
    } catch (const store_full& e) {
      store_failed_to_answer(e, "take_new_deliveries");
    }
    if (stopping_) break;
    if (!more) co_await sleep(intake_timer_, steady_clock::now() + timing_.intake_interval);
  }
}

}  // namespace hookless
