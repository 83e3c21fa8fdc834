// The names of run and delivery states: each name reads back as its state, other text as none.
#include "core/model/run.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

TEST(run_states, run_state_names_round_trip) {
  EXPECT_EQ(to_string(run_state::pending), "pending");
  EXPECT_EQ(to_string(run_state::finished), "finished");
  for (const auto state : {run_state::pending, run_state::finished}) {
    EXPECT_EQ(parse_run_state(to_string(state)), state) << to_string(state);
  }
}

TEST(run_states, delivery_state_names_round_trip) {
  EXPECT_EQ(to_string(delivery_state::pending), "pending");
  EXPECT_EQ(to_string(delivery_state::done), "done");
  EXPECT_EQ(to_string(delivery_state::dead), "dead");
  for (const auto state : {delivery_state::pending, delivery_state::done, delivery_state::dead}) {
    EXPECT_EQ(parse_delivery_state(to_string(state)), state) << to_string(state);
  }
}

TEST(run_states, unknown_names_are_no_state) {
  for (const char* name : {"", "all", "done", "dead", "Pending", "pending ", "finish"}) {
    EXPECT_FALSE(parse_run_state(name)) << name;
  }
  for (const char* name : {"", "all", "finished", "failed", "DEAD", " done"}) {
    EXPECT_FALSE(parse_delivery_state(name)) << name;
  }
}

}  // namespace
}  // namespace hookless
