// What hookless knows about one tracked run, and the events it makes: plain data shared by the
// scheduler, the state store, the control API and the sinks.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

using clock_type = std::chrono::system_clock;
using time_point = clock_type::time_point;

enum class run_state { pending, finished };

// What a client asked for in POST /v1/runs, after validation.
struct registration {
  std::string id;
  std::string kind;                                   // e.g. "extract_run"; from the ID prefix when not given
  std::vector<std::string> sinks;                     // sink names; the config's default_sinks when not given
  boost::json::object context;                        // handed back in every event
  std::optional<std::chrono::milliseconds> deadline;  // else polling.deadline
};

// One event made for a run: its envelope is what every sink receives.
struct run_event {
  std::string event_id;    // "event_" + a digest of (run id, event type)
  std::string event_type;  // e.g. "extract_run.processed"
  std::string body;        // the serialized envelope, byte for byte what sinks deliver
};

enum class delivery_state { pending, done, dead };

// The states' names, as the state file stores them and the control API shows and filters them:
// "pending", "finished"; "pending", "done", "dead".
std::string_view to_string(run_state state);
std::string_view to_string(delivery_state state);
// The state a name stands for; nullopt for any other text (names are case-sensitive).
std::optional<run_state> parse_run_state(std::string_view name);
std::optional<delivery_state> parse_delivery_state(std::string_view name);

// One event to one sink (an outbox record).
struct delivery {
  std::string id;  // event id + ":" + sink name
  std::string event_id;
  std::string run_id;
  std::string sink;
  delivery_state state = delivery_state::pending;
  std::uint32_t attempts = 0;
  std::optional<std::string> last_error;
  std::optional<time_point> next_attempt_at;
  // When a dead delivery was last put back (POST /v1/deliveries/{id}/retry): its max_age counts
  // from then rather than from the event's detectedAt, across restarts too.
  std::optional<time_point> redelivered_at;
};

// A delivery still to make, with the event body it carries.
struct delivery_job {
  delivery record;
  std::string event_type;
  std::string body;
  std::string home;  // several daemons on one database: the node its run belongs to (else empty)
};

struct run_record {
  std::string id;
  std::string kind;
  std::uint32_t owner_uid = 0;
  run_state state = run_state::pending;
  std::optional<std::string> status;   // last status Extend reported
  std::optional<std::string> outcome;  // processed, failed, cancelled, rejected, needs_review, expired, not_found, ...
  std::uint32_t polls = 0;
  time_point registered_at;
  time_point updated_at;
  // The last time Extend showed the run's status (a GET answered, or a list sweep listed it); a
  // failed poll leaves it, so the catch-up after a restart reads back from here.
  time_point looked_at;
  std::optional<time_point> next_poll_at;
  std::optional<time_point> finished_at;
  time_point deadline_at;
  std::vector<std::string> sinks;
  boost::json::object context;
  // The subscription that found the run (docs/subscriptions.md), shown as hookless.subscription in
  // its events; unset for a registered run.
  std::optional<std::string> subscription;
  std::vector<run_event> events;
  std::vector<delivery> deliveries;
};

}  // namespace hookless
