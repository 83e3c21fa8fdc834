// The in-memory cluster tables of fake_cluster.hpp, over a real SQLite store.
#include "tests/integration/fake_cluster.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace hookless::test {

namespace asio = boost::asio;
using steady_clock = std::chrono::steady_clock;

std::optional<std::string> fake_cluster_db::holder_at(steady_time at) const {
  for (const auto& held : terms) {
    if (held.from <= at && at < held.until) return held.instance;
  }
  return std::nullopt;
}

fake_cluster_node::fake_cluster_node(fake_cluster_db& db, std::string node, std::string instance)
    : db_(db), node_(std::move(node)), instance_(std::move(instance)) {
  // Opening takes this node's home back and frees its deliveries taken by an adopter.
  db_.heartbeats[node_] = steady_clock::now();
  db_.adopted_by.erase(node_);
  for (auto it = db_.taken_by.begin(); it != db_.taken_by.end();) {
    const auto home = db_.delivery_home.find(it->first);
    it = (home != db_.delivery_home.end() && home->second == node_) ? db_.taken_by.erase(it) : std::next(it);
  }
}

void fake_cluster_node::reachable() const {
  if (db_.unreachable) throw store_unavailable("the test cut the database off");
}

void fake_cluster_node::fenced() const {
  reachable();
  const bool holds = term_ && db_.lease == instance_ && !db_.terms.empty() && db_.terms.back().term == *term_;
  if (!holds) {
    ++db_.refused_writes;
    throw lease_lost("poller term " + (term_ ? std::to_string(*term_) : std::string{"none"}) + " no longer held");
  }
}

std::vector<std::string> fake_cluster_node::homes() const {
  std::vector<std::string> homes{node_};
  for (const auto& [node, adopter] : db_.adopted_by) {
    if (adopter == node_) homes.push_back(node);
  }
  return homes;
}

// ---- cluster_store -----------------------------------------------------------------------------

// Whether `node` has beaten within `dead_after` of `now`. A function, not a lambda: a closure in a
// coroutine's frame trips -Wsubobject-linkage when this file is compiled inside a unity source.
static bool beat_within(const fake_cluster_db& db, const std::string& node, steady_clock::time_point now,
                        std::chrono::milliseconds dead_after) {
  const auto beat = db.heartbeats.find(node);
  return beat != db.heartbeats.end() && now - beat->second <= dead_after;
}

awaitable<heartbeat_result> fake_cluster_node::heartbeat(std::chrono::milliseconds dead_after) {
  reachable();
  const auto now = steady_clock::now();
  db_.heartbeats[node_] = now;
  heartbeat_result result;
  for (const auto& [node, beat] : db_.heartbeats) {
    if (beat_within(db_, node, now, dead_after)) {
      result.live_nodes.push_back(node);
      continue;
    }
    const auto adopter = db_.adopted_by.find(node);
    if (adopter != db_.adopted_by.end() && beat_within(db_, adopter->second, now, dead_after)) continue;
    db_.adopted_by[node] = node_;
    result.adopted_now.push_back(node);
    for (auto it = db_.taken_by.begin(); it != db_.taken_by.end();) {  // its undone deliveries become free
      const auto home = db_.delivery_home.find(it->first);
      it = (home != db_.delivery_home.end() && home->second == node) ? db_.taken_by.erase(it) : std::next(it);
    }
  }
  result.homes = homes();
  co_return result;
}

awaitable<std::optional<std::uint64_t>> fake_cluster_node::claim_poller(std::chrono::milliseconds ttl) {
  if (claim_delay.count() > 0) {
    asio::steady_timer delay{co_await asio::this_coro::executor};
    delay.expires_after(claim_delay);
    co_await delay.async_wait(asio::use_awaitable);
  }
  reachable();
  const auto now = steady_clock::now();
  if (db_.lease == instance_) {  // renewed (even expired: nobody took it meanwhile)
    db_.terms.back().until = now + ttl;
    co_return db_.terms.back().term;
  }
  if (db_.lease && now < db_.terms.back().until) co_return std::nullopt;
  const std::uint64_t term = db_.terms.empty() ? 1 : db_.terms.back().term + 1;
  db_.terms.push_back({.instance = instance_, .term = term, .from = now, .until = now + ttl});
  db_.lease = instance_;
  co_return term;
}

awaitable<void> fake_cluster_node::resign_poller() {
  reachable();
  if (db_.lease != instance_) co_return;
  db_.terms.back().until = std::min(db_.terms.back().until, steady_clock::now());
  db_.lease.reset();
}

awaitable<std::vector<run_record>> fake_cluster_node::pick_new_runs(std::size_t limit) {
  fenced();
  auto pending = co_await db_.data.list_runs(run_query{.state = run_state::pending,
                                                       .owner = std::nullopt,
                                                       .limit = 1'000'000,
                                                       .after = std::nullopt,
                                                       .kind = std::nullopt,
                                                       .outcome = std::nullopt});
  std::vector<run_record> picked;
  for (auto it = pending.rbegin(); it != pending.rend() && picked.size() < limit; ++it) {  // oldest first
    if (db_.picked.insert(it->id).second) picked.push_back(std::move(*it));
  }
  co_return picked;
}

awaitable<std::vector<delivery_job>> fake_cluster_node::take(std::size_t limit) {
  reachable();
  auto undone = co_await db_.data.load_undone_deliveries();
  const auto held = homes();
  std::vector<delivery_job> taken;
  for (auto& job : undone) {
    if (taken.size() >= limit) break;
    const auto home = db_.home_of.find(job.record.run_id);
    if (home == db_.home_of.end() || std::ranges::find(held, home->second) == held.end()) continue;
    if (db_.taken_by.contains(job.record.id)) continue;
    db_.taken_by[job.record.id] = instance_;
    db_.delivery_home[job.record.id] = home->second;
    job.home = home->second;
    taken.push_back(std::move(job));
  }
  co_return taken;
}

awaitable<std::vector<delivery_job>> fake_cluster_node::take_new_deliveries(std::size_t limit) {
  co_return co_await take(limit);
}

// ---- state_store -------------------------------------------------------------------------------

awaitable<std::vector<run_record>> fake_cluster_node::load_pending() {
  fenced();
  auto pending = co_await db_.data.load_pending();
  for (const auto& run : pending) db_.picked.insert(run.id);
  co_return pending;
}

awaitable<std::vector<delivery_job>> fake_cluster_node::load_undone_deliveries() {
  co_return co_await take(static_cast<std::size_t>(-1));
}

awaitable<std::vector<bool>> fake_cluster_node::insert_runs(std::vector<run_record> runs) {
  reachable();
  std::vector<std::string> ids;
  for (const auto& run : runs) ids.push_back(run.id);
  auto inserted = co_await db_.data.insert_runs(std::move(runs));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (inserted[i]) db_.home_of[ids[i]] = node_;
  }
  co_return inserted;
}

awaitable<void> fake_cluster_node::save_progress(std::vector<run_progress> progress) {
  fenced();
  co_await db_.data.save_progress(std::move(progress));
}

awaitable<void> fake_cluster_node::record_outcome(run_outcome outcome) {
  fenced();
  co_await db_.data.record_outcome(std::move(outcome));
}

// A compare-and-set on the taker; a dead delivery put back (pending again) is freed for its home.
awaitable<void> fake_cluster_node::update_delivery(delivery record) {
  reachable();
  const auto before = co_await db_.data.find_delivery(record.id);
  const bool redelivered =
      before && before->record.state == delivery_state::dead && record.state == delivery_state::pending;
  const auto taker = db_.taken_by.find(record.id);
  if (!redelivered && taker != db_.taken_by.end() && taker->second != instance_) co_return;  // taken over
  co_await db_.data.update_delivery(record);
  if (redelivered) db_.taken_by.erase(record.id);
}

awaitable<std::optional<run_record>> fake_cluster_node::find_run(std::string id) {
  reachable();
  co_return co_await db_.data.find_run(std::move(id));
}

awaitable<std::vector<std::optional<std::uint32_t>>> fake_cluster_node::owners_of(std::vector<std::string> ids) {
  reachable();
  co_return co_await db_.data.owners_of(std::move(ids));
}

awaitable<std::vector<run_record>> fake_cluster_node::list_runs(run_query query) {
  reachable();
  co_return co_await db_.data.list_runs(std::move(query));
}

awaitable<std::vector<delivery>> fake_cluster_node::list_deliveries(delivery_query query) {
  reachable();
  co_return co_await db_.data.list_deliveries(std::move(query));
}

awaitable<std::map<std::string, std::size_t>> fake_cluster_node::count_dead_deliveries() {
  reachable();
  co_return co_await db_.data.count_dead_deliveries();
}

awaitable<std::optional<delivery_job>> fake_cluster_node::find_delivery(std::string delivery_id) {
  reachable();
  co_return co_await db_.data.find_delivery(std::move(delivery_id));
}

awaitable<bool> fake_cluster_node::delete_run(std::string id) {
  reachable();
  co_return co_await db_.data.delete_run(std::move(id));
}

awaitable<std::size_t> fake_cluster_node::prune_finished(time_point cutoff) {
  reachable();
  co_return co_await db_.data.prune_finished(cutoff);
}

awaitable<std::vector<subscription_position>> fake_cluster_node::load_subscription_positions() {
  reachable();
  co_return co_await db_.data.load_subscription_positions();
}

// The poller's, fenced: the runs it finds new are its node's and already its own to track (as
// picked); the deliveries made for a known run's added sinks go to that run's home.
awaitable<std::vector<found_run>> fake_cluster_node::save_finds(subscription_finds finds) {
  fenced();
  auto found = co_await db_.data.save_finds(std::move(finds));
  for (auto& result : found) {
    if (result.what == found_run::result::inserted) {
      db_.home_of[result.run.id] = node_;
      db_.picked.insert(result.run.id);
    }
    const auto home = db_.home_of.find(result.run.id);
    for (auto& job : result.new_jobs) job.home = home == db_.home_of.end() ? std::string{} : home->second;
  }
  co_return found;
}

awaitable<void> fake_cluster_node::drop_subscription_position(std::string subscription, std::string kind) {
  reachable();
  co_await db_.data.drop_subscription_position(std::move(subscription), std::move(kind));
}

awaitable<std::vector<recorded_event>> fake_cluster_node::events_after(event_position after, std::size_t limit) {
  reachable();
  co_return co_await db_.data.events_after(after, limit);
}

awaitable<event_position> fake_cluster_node::newest_event_position() {
  reachable();
  co_return co_await db_.data.newest_event_position();
}

}  // namespace hookless::test
