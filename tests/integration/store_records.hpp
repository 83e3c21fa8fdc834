// Runs, events, deliveries and outcomes as the store tests write them (both backends, the cluster
// tests), and the small helpers their coroutine bodies need.
#pragma once

#include "core/model/subscription.hpp"
#include "core/store/state_store.hpp"
#include "tests/support/co_assert.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hookless::test {

// g++ 12 miscompiles initializer lists inside coroutines ("array used as initializer"), so test
// bodies build their lists through these plain functions.
template <typename... Runs>
std::vector<run_record> runs_of(Runs... runs) {
  std::vector<run_record> all;
  (all.push_back(std::move(runs)), ...);
  return all;
}

template <typename... Items>
std::vector<run_progress> progress_of(Items... items) {
  std::vector<run_progress> all;
  (all.push_back(std::move(items)), ...);
  return all;
}

template <typename... Names>
std::vector<std::string> names(Names... text) {
  std::vector<std::string> all;
  (all.emplace_back(text), ...);
  return all;
}

template <typename... Flags>
std::vector<bool> bools_of(Flags... flags) {
  std::vector<bool> all;
  (all.push_back(flags), ...);
  return all;
}

boost::json::object nested_context();
boost::json::object padded_context();
boost::json::object counter_context(int i);

time_point at_ms(std::int64_t ms);

// A pending extract run of `owner` registered at `base_ms`, for the sinks "out" and "app".
run_record make_run(const std::string& id, std::uint32_t owner = 1000, std::int64_t base_ms = 1'700'000'000'000);
// A pending run `subscription` found (no owner, no context), for `sinks`.
run_record make_found_run(const std::string& id, const std::string& subscription, std::vector<std::string> sinks,
                          std::int64_t base_ms = 1'700'000'000'000);
run_event make_event(const std::string& run_id, const std::string& type);
delivery make_delivery(const run_event& event, const std::string& run_id, const std::string& sink);
// The run finished as processed, with one event for each of its sinks.
run_outcome make_outcome(const run_record& pending, std::int64_t finished_ms);
// The workflow run needs review and stays pending: one workflow_run.needs_review event, for "out".
run_outcome make_review(const run_record& pending);

void expect_same_run(const run_record& a, const run_record& b);
std::vector<std::string> ids_of(const std::vector<run_record>& runs);
std::vector<std::string> delivery_ids(const std::vector<delivery>& records);

}  // namespace hookless::test
