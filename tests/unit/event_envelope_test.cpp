// Event envelopes: deterministic ids, the payload byte for byte, hookless's own fields.
#include "core/model/event_envelope.hpp"
#include "core/model/subscription.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace hookless {
namespace {

TEST(event_envelope, event_id_depends_only_on_run_and_type) {
  EXPECT_EQ(make_event_id("exr_1", "extract_run.processed"), make_event_id("exr_1", "extract_run.processed"));
  EXPECT_NE(make_event_id("exr_1", "extract_run.processed"), make_event_id("exr_2", "extract_run.processed"));
  EXPECT_NE(make_event_id("exr_1", "extract_run.processed"), make_event_id("exr_1", "extract_run.failed"));
  // The separator keeps ("ab", "c") apart from ("a", "bc").
  EXPECT_NE(make_event_id("ab", "c"), make_event_id("a", "bc"));
  const auto id = make_event_id("exr_1", "extract_run.processed");
  EXPECT_EQ(id.rfind("event_", 0), 0U);
  EXPECT_EQ(id.size(), 6U + 32U);
}

TEST(event_envelope, envelope_has_every_field_and_the_exact_payload) {
  run_record run;
  run.id = "exr_1";
  run.kind = "extract_run";
  run.polls = 12;
  run.registered_at = std::chrono::system_clock::from_time_t(1'800'000'000);
  run.context = {{"order", 42}};
  const std::string payload = R"({"id":"exr_1","status":"PROCESSED","score":0.50})";
  const auto detected = run.registered_at + std::chrono::milliseconds{1'234};
  const auto event = make_event(run, "extract_run.processed", payload, detected);

  EXPECT_EQ(event.event_id, make_event_id("exr_1", "extract_run.processed"));
  EXPECT_NE(event.body.find(R"("payload":{"id":"exr_1","status":"PROCESSED","score":0.50})"), std::string::npos);
  const auto parsed = boost::json::parse(event.body).as_object();
  EXPECT_EQ(parsed.at("eventId").as_string(), event.event_id);
  EXPECT_EQ(parsed.at("eventType").as_string(), "extract_run.processed");
  const auto& fields = parsed.at("hookless").as_object();
  EXPECT_EQ(fields.at("registeredAt").as_string(), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(fields.at("detectedAt").as_string(), "2027-01-15T08:00:01.234Z");
  EXPECT_EQ(fields.at("polls").as_int64(), 12);
  EXPECT_EQ(fields.at("context").at("order").as_int64(), 42);
  EXPECT_EQ(event.body.find('\n'), std::string::npos);
}

// A run a subscription found names it last in `hookless`, after an empty context; a registered run
// has no `subscription` key at all.
TEST(event_envelope, a_subscription_run_names_its_subscription) {
  run_record run;
  run.id = "exr_found";
  run.kind = "extract_run";
  run.polls = 1;
  run.owner_uid = no_owner_uid;
  run.registered_at = std::chrono::system_clock::from_time_t(1'800'000'000);
  run.subscription = "invoices";
  const auto event = make_event(run, "extract_run.processed", R"({"id":"exr_found"})", run.registered_at);
  EXPECT_NE(event.body.find(R"("context":{},"subscription":"invoices"})"), std::string::npos) << event.body;
  const auto parsed = boost::json::parse(event.body).as_object();
  EXPECT_EQ(parsed.at("hookless").at("subscription").as_string(), "invoices");
  EXPECT_TRUE(parsed.at("hookless").at("context").as_object().empty());
  EXPECT_EQ(event.event_id, make_event_id("exr_found", "extract_run.processed"));

  run.subscription.reset();
  const auto registered = make_event(run, "extract_run.processed", R"({"id":"exr_found"})", run.registered_at);
  EXPECT_FALSE(boost::json::parse(registered.body).at("hookless").as_object().contains("subscription"));
}

TEST(event_envelope, daemon_payload) {
  run_record run;
  run.id = "clr_9";
  run.kind = "classify_run";
  const auto none = boost::json::parse(daemon_event_payload(run, "deadline passed")).as_object();
  EXPECT_EQ(none.at("object").as_string(), "run");
  EXPECT_EQ(none.at("id").as_string(), "clr_9");
  EXPECT_EQ(none.at("kind").as_string(), "classify_run");
  EXPECT_TRUE(none.at("lastStatus").is_null());
  EXPECT_EQ(none.at("reason").as_string(), "deadline passed");
  run.status = "PROCESSING";
  EXPECT_EQ(boost::json::parse(daemon_event_payload(run, "x")).at("lastStatus").as_string(), "PROCESSING");
}

}  // namespace
}  // namespace hookless
