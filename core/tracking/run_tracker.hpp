// The heart of the daemon: pending runs wait in one queue ordered by their next poll time; a
// dispatcher hands each due run to a short poll coroutine that polls Extend within the shared
// budget, turns what it sees into events, records them durably with their deliveries, and hands
// the deliveries to the sinks' queues. Only runs being polled hold a coroutine and a timer, so a
// pending run costs its record and little else (100,000 of them resume in well under a second).
// For kinds with a list endpoint (polling.list_endpoints), a change feed per kind sweeps the list
// of recently updated runs (run_tracker_feed.cpp) and makes due at once only the runs it shows
// stopped; those kinds' runs otherwise get a long safety-net poll. Finished runs are pruned from
// the store after the retention period. Everything runs on one io_context thread. Poll times and
// deadlines run on the monotonic clock (a step of the system clock moves none of them); the wall
// times in the records, which users read and the store keeps, are converted from them.
//
// Several daemons on one database (tracker_settings::cluster): every daemon registers runs, answers
// for every run and delivers its homes' events, but only the poller polls. Polling (the dispatcher's
// runs, the feeds, the progress flush) then runs only while switched on (start_polling, by the
// cluster runtime when this daemon holds the poller lease); registrations are only inserted (the
// poller picks them up: adopt_new_runs), recorded deliveries stay in the store for their home's
// intake (deliver), and a run polled elsewhere is read, and waited for, from the store.
#pragma once

#include "core/delivery/delivery_queues.hpp"
#include "core/extend/run_source.hpp"
#include "core/model/event_filter.hpp"
#include "core/model/run_kind.hpp"
#include "core/model/settings.hpp"
#include "core/net/request_budget.hpp"
#include "core/store/state_store.hpp"
#include "core/tracking/change_feed.hpp"
#include "core/tracking/due_queue.hpp"
#include "core/tracking/live_events.hpp"
#include "core/tracking/subscription_sweep.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace hookless {

struct tracker_settings {
  polling_config polling;
  api_generation generation = api_generation::current;
  sink_event_filters sink_events;  // sink name -> event patterns
  std::chrono::milliseconds progress_flush_interval{1'000};
  // A 404 finishes a run with run.not_found once it has persisted this long and for 3 polls.
  // Default: the fast period, when a new run is most likely to be briefly unknown.
  std::optional<std::chrono::milliseconds> not_found_after;
  // Finished runs (whose deliveries are all done or dead) are deleted from the store this long
  // after they finished (state.retention); checked at start and every prune_interval.
  std::chrono::milliseconds retention{7LL * 24 * 3600 * 1000};
  std::chrono::milliseconds prune_interval{3'600'000};
  // At most this many runs are in a poll at once (waiting for the budget, asking Extend,
  // recording); other due runs wait their turn in due order without a coroutine. The budget, not
  // this, sets the request rate: keep it above requests_per_second x a request's duration.
  std::size_t max_active_polls = 256;
  // Several daemons share the store (state.url): poll only while switched on (start_polling).
  bool cluster = false;
  // Cluster: how often wait() reads again a run that another daemon polls.
  std::chrono::milliseconds store_wait_interval{250};
  // Every run of these kinds that stops is delivered to their sinks, nothing registered
  // (run_tracker_subscriptions.cpp). Kinds must be listable; sinks configured.
  std::map<std::string, subscription_config> subscriptions;
};

// The API's state as health reports it.
struct api_health {
  std::string state = "ok";  // ok | rate_limited | unauthorized | unreachable
  std::optional<std::string> last_error;
};

struct tracker_counters {
  std::uint64_t polls = 0;
  std::map<std::string, std::uint64_t> answers;  // by answer kind
  std::uint64_t events = 0;
  std::uint64_t registered = 0;
  std::uint64_t pruned = 0;                           // finished runs removed after the retention period
  std::map<std::string, std::uint64_t> list_answers;  // pages of list endpoints asked for, by answer kind
  std::uint64_t feed_wakes = 0;  // runs polled at once because a list sweep showed them changed or unlisted
};

class run_tracker {
 public:
  // Called when a run's coroutine fails in a way the daemon cannot continue from (store_failed).
  using fatal_handler = std::function<void(std::exception_ptr)>;

  run_tracker(boost::asio::any_io_executor executor, state_store& store, run_source& source, request_budget& budget,
              std::map<std::string, sink*> sinks, tracker_settings settings, fatal_handler on_fatal);
  run_tracker(const run_tracker&) = delete;
  run_tracker& operator=(const run_tracker&) = delete;
  ~run_tracker();

  // Resumes every pending run (cluster: none until start_polling) and every undone delivery from
  // the store.
  awaitable<void> start();
  // Stops polling and delivering; pending state stays in the store.
  void stop();

  // Cluster: the poller switch. On: every pending run of the store is loaded and polled (a switch
  // off before the load answers wins). Off: every poll stops at once, nothing more is recorded
  // under the lost term, and the pending runs are let go (they stay in the store); waiters go on
  // reading the store. The delivery queues run whatever the switch says.
  awaitable<void> start_polling();
  void stop_polling();
  bool polling() const { return polling_; }
  // Cluster, while polling: runs registered since the last pick (on any daemon), now polled here.
  void adopt_new_runs(std::vector<run_record> runs);
  // Cluster: deliveries of this daemon's homes taken from the store, to their sinks' queues.
  void deliver(std::vector<delivery_job> jobs);
  // Cluster: this daemon no longer holds `home`; its deliveries leave the queues.
  void drop_home(const std::string& home) { deliveries_.drop_home(home); }

  struct registered {
    run_record record;
    bool is_new = false;
  };
  // Durable on return. Registrations must be valid (kind served, sinks configured). IDs already
  // tracked are left as they are. Throws store_full.
  awaitable<std::vector<registered>> register_runs(std::uint32_t owner, std::vector<registration> runs);

  // The run as it now stands: pending ones from memory (their events' bodies from the store),
  // finished ones from the store.
  awaitable<std::optional<run_record>> find(std::string id);
  // Answers once the run is no longer pending, or after `limit`.
  awaitable<std::optional<run_record>> wait(std::string id, std::chrono::milliseconds limit);
  // Stops tracking the run; nothing more is delivered for it. False if unknown.
  awaitable<bool> forget(std::string id);
  // The freshest view of a pending run, for lists read from the store.
  const run_record* pending_record(const std::string& id) const;

  // Delivers a delivery again, whatever its state: a dead or done one goes back in its sink's queue,
  // a pending one waiting for a retry goes now. False if there is no such delivery.
  awaitable<bool> retry_delivery(std::string delivery_id);

  std::size_t pending_count() const { return pending_.size(); }
  const api_health& api() const { return api_; }
  // An answer from Extend, for health: run and not_found mean it takes the key (ok); the start-up
  // key check reports through this too.
  void note_api(answer_kind kind, const std::string& error);
  const tracker_counters& counters() const { return counters_; }
  const std::vector<std::shared_ptr<delivery_queue>>& queues() const { return deliveries_.all(); }

  // Applies a reloaded config (SIGHUP) without touching pending runs: the polling settings and
  // event filters hold from the next poll and event on; list_endpoints switched off puts the
  // feeds' runs back on the SDK cadence, switched on (or reloaded while a list was unusable)
  // starts the feeds over. The sinks change as delivery_queues::reconfigure says (a replaced sink
  // object must outlive the tracker: a delivery may still be with it).
  awaitable<void> reconfigure(std::map<std::string, sink*> sinks, polling_config polling,
                              std::map<std::string, std::vector<std::string>> sink_events,
                              std::map<std::string, subscription_config> subscriptions);
  // Each subscription's sweep of each of its kinds, by (subscription, kind).
  std::vector<subscription_status> subscription_statuses() const;
  // Pending runs by kind (for metrics).
  std::map<std::string, std::size_t> pending_by_kind() const;
  // Each event, once recorded, is published here too (GET /v1/events?follow=1); must outlive the
  // tracker. Several daemons: only the poller makes events.
  void publish_to(live_events* followers) { live_ = followers; }

 private:
  using steady_time = std::chrono::steady_clock::time_point;
  // Both clocks read at one moment: maps the wall times of a batch of records to steady ones.
  struct clock_reading {
    time_point wall;
    steady_time steady;
    steady_time to_steady(time_point at) const {
      return steady + std::chrono::duration_cast<std::chrono::steady_clock::duration>(at - wall);
    }
  };

  // Kept small on purpose: a pending run between polls is this and its entry in due_. Its events
  // keep their IDs and types only; their bodies are in the store (an event is recorded before it
  // is known here).
  struct tracked_run {
    // The record's wall times (next poll, deadline) are mapped to the monotonic clock here, once.
    tracked_run(run_record r, run_kind_info i, const clock_reading& now);

    run_record record;
    run_kind_info info;
    steady_time due;                            // its next poll; record.next_poll_at is the same time on the wall clock
    steady_time deadline;                       // record.deadline_at on the monotonic clock
    boost::asio::steady_timer* wake = nullptr;  // while in a poll: its timer, cancelled to stop it
    std::vector<boost::asio::steady_timer*> waiters;  // wait() callers, woken when the run finishes
    unsigned failures = 0;                            // consecutive polls without a usable answer
    unsigned not_found_streak = 0;
    std::optional<steady_time> first_not_found;
    bool stopped = false;                    // forgotten, finished or shutting down
    bool in_poll = false;                    // launched and not back in due_ yet
    bool woken_in_poll = false;              // a sweep showed it changed while it was in a poll: poll again at once
    bool woken = false;                      // a sweep made it due: its next poll goes ahead at every queue
    bool listed_stopped = false;             // a sweep showed it stopped: the SDK cadence until a GET agrees
    std::uint32_t due_slot = due_slot_none;  // its place in due_, while it waits there
  };
  using run_ptr = std::shared_ptr<tracked_run>;
  // One listable kind's change feed and its sweep loop.
  struct kind_feed {
    kind_feed(run_kind_info i, boost::asio::any_io_executor executor) : info(i), pause(executor) {}

    run_kind_info info;
    change_feed feed;
    std::size_t runs = 0;             // pending runs of this kind
    bool usable = true;               // false once the list answered that it cannot serve this kind
    bool idle = false;                // its loop waits for runs (or for the feature to be switched on)
    unsigned failures = 0;            // sweeps in a row without a usable answer
    bool failing = false;             // its sweeps keep failing: its runs are polled one by one meanwhile
    std::uint64_t epoch = 0;          // changes when the feed starts over: a sweep under way then is dropped
    boost::asio::steady_timer pause;  // between sweeps; cancelled to sweep now or stop
    boost::asio::steady_timer* waiting = nullptr;  // while a sweep waits for the budget
  };

  static time_point now_ms();  // the wall clock, for what is stored and shown
  static steady_time steady_now();
  static clock_reading read_clocks();
  static time_point to_wall(steady_time at);
  static double random_draw();  // uniform in [-1, 1], for jitter
  void queue_run(const run_ptr& run);
  static steady_time due_time(const tracked_run& run) { return run.due; }
  void poll_first(const run_ptr& run);  // due now, ahead at every queue
  void resume(std::vector<run_record> pending);
  void track_new(run_record record, const clock_reading& clocks);
  awaitable<std::optional<run_record>> wait_in_store(std::string id, steady_time until);
  static void set_due(tracked_run& run, steady_time at);
  static std::chrono::milliseconds age_of(const tracked_run& run);  // since its registration, for the cadence
  bool poll_now(const run_ptr& run);
  std::chrono::milliseconds cadence_delay(const tracked_run& run) const;
  // The change feeds (run_tracker_feed.cpp).
  kind_feed* feed_for(std::string_view kind);
  const kind_feed* feed_for(std::string_view kind) const;
  bool feeding(const kind_feed& feed) const { return settings_.polling.list_endpoints && feed.usable; }
  // Fed, and its sweeps succeed: its runs need only a safety-net poll.
  bool relied_on(const kind_feed& feed) const { return feeding(feed) && !feed.failing; }
  std::chrono::milliseconds safety_delay(const kind_feed& feed) const;
  steady_time safety_poll_at(const kind_feed& feed, const tracked_run& run) const;
  void follow(kind_feed& feed, tracked_run& run, time_point since, bool status_known);
  void kick(kind_feed& feed);
  awaitable<void> feed_loop(std::shared_ptr<kind_feed> feed);
  awaitable<std::chrono::milliseconds> sweep(kind_feed& feed);
  std::chrono::milliseconds pause_after_sweep(std::size_t pages) const;
  void take_summary(kind_feed& feed, const run_summary& summary, std::vector<std::string>& listed);
  void disable_feed(kind_feed& feed, const std::string& reason);
  void back_to_cadence(kind_feed& feed);
  void fall_back_while_failing(kind_feed& feed, const std::string& error);
  void spread_polls(const kind_feed& feed);
  void refollow(kind_feed& feed);
  // One subscription's sweep of one kind and its loop (run_tracker_subscriptions.cpp).
  struct subscription_loop {
    subscription_loop(subscription_config c, run_kind_info i, subscription_position saved,
                      boost::asio::any_io_executor executor);

    subscription_config config;  // its name and sinks
    run_kind_info info;
    subscription_sweep sweep;
    subscription_status status;
    bool loaded = false;      // its position is read from the store (cluster: again at each start_polling)
    bool removed = false;     // by a reload: its loop ends
    std::uint64_t epoch = 0;  // changes when its position is reloaded: a sweep under way is dropped
    unsigned failures = 0;    // sweeps in a row that failed
    std::chrono::milliseconds idle_pause{0};
    std::map<std::string, time_point, std::less<>> recently_found;  // ID -> updatedAt: not saved again
    boost::asio::steady_timer pause;                                // between sweeps; cancelled to sweep now or stop
    boost::asio::steady_timer* waiting = nullptr;                   // while a sweep waits for the budget
  };
  using subscription_key = std::pair<std::string, std::string>;  // (subscription, kind)
  awaitable<bool> load_subscription_positions();
  void apply_subscriptions(const std::map<std::string, subscription_config>& wanted);
  void end_subscription_loop(subscription_loop& loop);
  awaitable<void> subscription_loop_run(std::shared_ptr<subscription_loop> loop);
  awaitable<std::chrono::milliseconds> sweep_subscription(subscription_loop& loop);
  awaitable<bool> save_found(subscription_loop& loop, std::vector<run_summary> found, subscription_position position);
  void take_found(subscription_loop& loop, std::vector<found_run> saved);
  std::chrono::milliseconds subscription_failed(subscription_loop& loop, const std::string& error,
                                                std::optional<std::chrono::milliseconds> retry_after);
  std::chrono::milliseconds pause_after_subscription_sweep(subscription_loop& loop, std::size_t pages, bool found);
  void note_listed(const run_kind_info& info, const run_summary& summary);
  void count_subscription_event(const run_record& run);
  void wake_dispatcher();
  awaitable<void> dispatch_polls();
  void launch(run_ptr run);
  awaitable<void> poll(run_ptr run);
  awaitable<void> handle_answer(tracked_run& run, const extend_answer& answer);
  awaitable<void> expire_if_due(tracked_run& run, const extend_answer& last_look);
  awaitable<bool> commit_event(tracked_run& run, std::string_view event_type, std::string_view payload,
                               std::optional<std::string> outcome, bool finishes);
  void schedule(tracked_run& run, std::chrono::milliseconds delay);
  void release(tracked_run& run);
  awaitable<void> flush_progress();
  awaitable<void> prune_loop();

  boost::asio::any_io_executor executor_;
  state_store& store_;
  run_source& source_;
  request_budget& budget_;
  tracker_settings settings_;
  fatal_handler on_fatal_;
  std::unordered_map<std::string, run_ptr> pending_;
  due_queue<tracked_run, steady_time> due_;  // pending runs not in a poll, by due_time
  boost::asio::steady_timer dispatch_timer_;
  bool dispatcher_waiting_ = false;
  std::size_t active_polls_ = 0;
  boost::asio::steady_timer prune_timer_;
  delivery_queues deliveries_;      // the sinks' queues, fed with each event's deliveries once recorded
  std::vector<std::string> dirty_;  // runs whose progress is not saved yet
  boost::asio::steady_timer flush_timer_;
  api_health api_;
  tracker_counters counters_;
  std::map<std::string, std::shared_ptr<kind_feed>, std::less<>> feeds_;  // by kind, listable kinds only
  std::map<subscription_key, std::shared_ptr<subscription_loop>> subscriptions_;
  bool stopping_ = false;
  bool polling_ = true;                // cluster: switched on (always, without a cluster)
  std::uint64_t polling_session_ = 0;  // cluster: changes at each switch, so a late load is dropped
  live_events* live_ = nullptr;        // the followers of GET /v1/events, when set
};

}  // namespace hookless
