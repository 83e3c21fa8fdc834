// Helpers for the black-box tests of subscriptions (docs/subscriptions.md): runs scripted on the fake
// Extend API with what a subscription must make of each, what the file sinks received, the check
// of one against the other (every expected event, nothing else, one eventId per run and event type)
// and the subscription's part of GET /v1/health.
#pragma once

#include "tests/blackbox/blackbox_support.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookless::blackbox {

// What a subscription must make of one run the test scripts.
struct expected_run {
  std::string id;
  std::string kind;                   // extract_run, workflow_run, classify_run
  std::vector<std::string> required;  // event types every sink must receive, in this order
  std::vector<std::string> optional;  // may come too (a workflow's needs_review a sweep may miss)
  bool registered = false;            // also registered over the control socket
};

// A run for the fake (`script`) and what to expect of it (`expect`).
struct scripted_run {
  run_script script;
  expected_run expect;
};

// A run of `kind` that appears (PENDING) `appear` after its creation, is PROCESSING a second later
// and reaches `outcome` at `finish`: "PROCESSED", "FAILED", or "REVIEW" (a workflow: NEEDS_REVIEW,
// then PROCESSED `review_for` later). With `delivered` false nothing may be delivered for it
// (history, a kind no subscription names); else its final event is required and a workflow's
// needs_review optional (required_review makes it required).
scripted_run script_run(std::string id, std::string kind, const std::string& outcome, std::chrono::milliseconds appear,
                        std::chrono::milliseconds finish, bool delivered,
                        std::chrono::milliseconds review_for = std::chrono::milliseconds{6000},
                        bool required_review = false);

// Adds the runs to the fake with one creation time (their timelines count from it), and what to
// expect of each to `plan`.
void add_scripted_runs(fake_extend& fake, std::map<std::string, expected_run>& plan, std::vector<scripted_run> runs);

// The event type a run of `kind` makes for the fake status `status`.
std::string subscription_event_type(const std::string& kind, const std::string& status);

// One line of a file sink.
struct sink_event {
  std::size_t sink = 0;  // index into the files read
  std::string run_id;
  std::string event_type;
  std::string event_id;
  boost::json::object envelope;
};

// Every event line of `files`, in file order (a missing file has none); torn lines in `bad_lines`.
std::vector<sink_event> read_sink_events(const std::vector<fs::path>& files, std::vector<std::string>* bad_lines);

// What the sinks received against what was expected.
struct subscription_delivery_check {
  std::vector<std::string> missing;       // "run event (sink N)" required and absent
  std::vector<std::string> unexpected;    // events of runs or types nobody expects (history, other kinds)
  std::vector<std::string> unstable_ids;  // a run and type under two eventIds, or not the derived one
  std::vector<std::string> out_of_order;  // a workflow's needs_review after its outcome in one sink
  std::size_t events = 0;                 // lines read
  std::size_t duplicates = 0;             // lines repeating an eventId already in the same sink
  std::size_t optional_delivered = 0;     // optional events that came (to any sink)
  std::size_t optional_possible = 0;

  bool complete() const { return missing.empty(); }
  std::string summary() const;  // the counts and the first few of each problem
};

// each_sink: every required event must reach each of the `sink_count` sinks (one daemon, a
// subscription with several sinks); else at least one of them (several daemons, each its own file).
subscription_delivery_check check_subscription_deliveries(const std::vector<sink_event>& events,
                                                          const std::map<std::string, expected_run>& plan,
                                                          std::size_t sink_count, bool each_sink);

// The entry of GET /v1/health's "subscriptions" part for one subscription and kind (an object with
// "state" and "last_error"), found whatever the nesting (by name then kind, a "kinds" object in
// between, or a list of entries naming them); nullopt when there is none.
std::optional<boost::json::object> subscription_health(const boost::json::object& health, const std::string& name,
                                                       const std::string& kind);
// Its "state", or "" when there is no such entry.
std::string subscription_state(const boost::json::object& health, const std::string& name, const std::string& kind);

}  // namespace hookless::blackbox
