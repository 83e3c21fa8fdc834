// The live event stream's buffer policy, without I/O: a follower's buffer holds at most
// max_events envelopes and max_bytes bytes (though any one event fits an empty buffer); going over
// either marks the reader too slow, frees the buffer at once and takes nothing more. Followers see
// only their own runs' events (an admin's see all), ?run= narrows them to one run, and events
// already sent among the recent ones are skipped.
#include "core/tracking/live_events.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hookless {
namespace {

live_event live_event_for(std::string run_id, std::uint32_t owner, std::string event_id, std::size_t body_size = 10) {
  return live_event{.run_id = std::move(run_id),
                    .owner_uid = owner,
                    .event_id = std::move(event_id),
                    .body = std::string(body_size, 'x')};
}

TEST(live_event_buffer, keeps_lines_in_order_until_taken) {
  live_event_buffer buffer{{.max_events = 3, .max_bytes = 100}};
  EXPECT_TRUE(buffer.push("e1", "one"));
  EXPECT_TRUE(buffer.push("e2", "two"));
  EXPECT_EQ(buffer.size(), 2u);
  EXPECT_EQ(buffer.bytes(), 6u);
  EXPECT_EQ(buffer.take(), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.bytes(), 0u);
  EXPECT_FALSE(buffer.too_slow());
}

TEST(live_event_buffer, one_event_over_the_count_makes_the_reader_too_slow_and_frees_the_buffer) {
  live_event_buffer buffer{{.max_events = 2, .max_bytes = 1000}};
  EXPECT_TRUE(buffer.push("e1", "a"));
  EXPECT_TRUE(buffer.push("e2", "b"));
  EXPECT_FALSE(buffer.push("e3", "c"));
  EXPECT_TRUE(buffer.too_slow());
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.bytes(), 0u);
  EXPECT_TRUE(buffer.take().empty());
  // Once too slow, it stays so: nothing more is queued even after the reader caught up.
  EXPECT_FALSE(buffer.push("e4", "d"));
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(live_event_buffer, the_byte_bound_counts_too) {
  live_event_buffer buffer{{.max_events = 100, .max_bytes = 10}};
  EXPECT_TRUE(buffer.push("e1", "12345"));
  EXPECT_TRUE(buffer.push("e2", "12345"));  // exactly the bound
  EXPECT_FALSE(buffer.push("e3", "1"));
  EXPECT_TRUE(buffer.too_slow());
}

TEST(live_event_buffer, any_single_event_fits_an_empty_buffer) {
  live_event_buffer buffer{{.max_events = 5, .max_bytes = 10}};
  EXPECT_TRUE(buffer.push("big", std::string(1000, 'x')));
  EXPECT_EQ(buffer.take().size(), 1u);
  EXPECT_TRUE(buffer.push("big2", std::string(1000, 'x')));
  EXPECT_FALSE(buffer.push("small", "x"));  // not while the big one still waits
}

TEST(live_event_buffer, taking_makes_room_again) {
  live_event_buffer buffer{{.max_events = 1, .max_bytes = 100}};
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(buffer.push("e" + std::to_string(i), "line"));
    EXPECT_EQ(buffer.take().size(), 1u);
  }
  EXPECT_FALSE(buffer.too_slow());
}

TEST(live_event_buffer, erase_drops_the_lines_of_given_events) {
  live_event_buffer buffer{{.max_events = 10, .max_bytes = 100}};
  buffer.push("e1", "one");
  buffer.push("e2", "two");
  buffer.push("e3", "three");
  buffer.erase({"e2"});
  EXPECT_EQ(buffer.bytes(), 8u);
  EXPECT_EQ(buffer.take(), (std::vector<std::string>{"one", "three"}));
}

TEST(live_events, each_follower_sees_only_its_owners_events_and_admins_all) {
  live_events hub{{.max_events = 10, .max_bytes = 1000}};
  auto alice = hub.follow(1001, std::nullopt);
  auto bob = hub.follow(1002, std::nullopt);
  auto admin = hub.follow(std::nullopt, std::nullopt);
  hub.publish(live_event_for("exr_a", 1001, "event_a", 3));
  hub.publish(live_event_for("exr_b", 1002, "event_b", 4));
  EXPECT_EQ(alice->take(), (std::vector<std::string>{"xxx"}));
  EXPECT_EQ(bob->take(), (std::vector<std::string>{"xxxx"}));
  EXPECT_EQ(admin->take(), (std::vector<std::string>{"xxx", "xxxx"}));
}

TEST(live_events, a_run_filter_narrows_to_that_run) {
  live_events hub;
  auto one_run = hub.follow(1001, std::string{"exr_a"});
  hub.publish(live_event_for("exr_a", 1001, "event_1"));
  hub.publish(live_event_for("exr_other", 1001, "event_2"));
  EXPECT_EQ(one_run->take().size(), 1u);
}

TEST(live_events, skipped_events_are_dropped_from_the_buffer_and_later) {
  live_events hub;
  auto follower = hub.follow(std::nullopt, std::nullopt);
  hub.publish(live_event_for("exr_a", 1, "event_1", 1));
  hub.publish(live_event_for("exr_a", 1, "event_2", 2));
  follower->skip({"event_1", "event_3"});
  hub.publish(live_event_for("exr_b", 1, "event_3", 3));
  hub.publish(live_event_for("exr_b", 1, "event_4", 4));
  EXPECT_EQ(follower->take(), (std::vector<std::string>{"xx", "xxxx"}));
}

TEST(live_events, a_stalled_follower_is_marked_too_slow_without_touching_the_others) {
  live_events hub{{.max_events = 3, .max_bytes = 1'000'000}};
  auto stalled = hub.follow(std::nullopt, std::nullopt);
  auto reader = hub.follow(std::nullopt, std::nullopt);
  int stalled_wakes = 0;
  stalled->on_ready([&] { ++stalled_wakes; });
  std::size_t read = 0;
  for (int i = 0; i < 100; ++i) {
    hub.publish(live_event_for("exr_" + std::to_string(i), 1, "event_" + std::to_string(i)));
    read += reader->take().size();
  }
  EXPECT_EQ(read, 100u);
  EXPECT_TRUE(stalled->too_slow());
  EXPECT_FALSE(reader->too_slow());
  EXPECT_EQ(stalled_wakes, 4);  // three queued, then the overflow; nothing after it
}

TEST(live_events, a_follower_that_is_gone_is_forgotten) {
  live_events hub;
  auto kept = hub.follow(std::nullopt, std::nullopt);
  {
    auto gone = hub.follow(std::nullopt, std::nullopt);
    EXPECT_EQ(hub.followers(), 2u);
  }
  hub.publish(live_event_for("exr_a", 1, "event_1"));
  EXPECT_EQ(hub.followers(), 1u);
  EXPECT_EQ(kept->take().size(), 1u);
}

}  // namespace
}  // namespace hookless
