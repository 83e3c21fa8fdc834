// Black box: every run kind of both API generations, each outcome, makes exactly one event of the
// right type, whose payload is the run object the fake answered (unwrapped for legacy answers), in
// the file sink and on stdout alike; workflows report needs_review before their final outcome.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <boost/json/parse.hpp>

#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// What the tests expect of a kind, written out here rather than taken from the daemon's tables.
struct kind_case {
  std::string prefix;        // of the run ID
  std::string collection;    // where the fake serves it
  std::string event_prefix;  // of the eventType
  std::string wrapper_key;   // of a wrapped answer, "" when bare
  bool workflow = false;
};

struct outcome_case {
  std::string status;  // final status the fake shows
  std::string suffix;  // eventType suffix ("completed" for processed workflows is handled below)
};

const std::vector<kind_case> current_kinds{
    {"exr_", "extract_runs", "extract_run", ""},
    {"clr_", "classify_runs", "classify_run", ""},
    {"splr_", "split_runs", "split_run", ""},
    {"pr_", "parse_runs", "parse_run", ""},
    {"edr_", "edit_runs", "edit_run", ""},
    {"sgr_", "form_detection_runs", "form_detection_run", ""},
    {"workflow_run_", "workflow_runs", "workflow_run", "", true},
    {"bpr_", "batch_runs", "batch_processor_run", ""},
    {"bpar_", "batch_runs", "batch_parse_run", ""},
    {"evr_", "evaluation_set_runs", "evaluation_set_run", ""},
    {"dpr_", "processor_runs", "processor_run", "processorRun"},  // still wrapped in 2026-02-09
};

const std::vector<kind_case> legacy_kinds{
    {"dpr_", "processor_runs", "processor_run", "processorRun"},
    {"workflow_run_", "workflow_runs", "workflow_run", "workflowRun", true},
    {"bpr_", "batch_processor_runs", "batch_processor_run", "batchProcessorRun"},
    {"parser_run_", "parser_runs", "parser_run", "parserRun"},
    {"edit_run_", "edit_runs", "edit_run", "editRun"},
};

const std::vector<outcome_case> outcomes{
    {"PROCESSED", "processed"},
    {"FAILED", "failed"},
    {"CANCELLED", "cancelled"},
    {"ARCHIVED", "archived"},  // a status never seen before still stops the run
};

struct expected_run {
  std::string id;
  std::string event_type;
  std::string fetch_target;
  std::string wrapper_key;
  json::object context;
};

class events_test : public blackbox_test {
 protected:
  // Scripts every kind x outcome in the fake, registers them all, waits, and checks each event.
  void check_every_kind(const std::string& api_version, const std::vector<kind_case>& kinds) {
    start_fake();
    auto c = base_config();
    c.api_version = api_version;
    c.requests_per_second = 100;
    auto& daemon = make_daemon(c);
    ASSERT_TRUE(daemon.start());

    std::vector<expected_run> expected;
    json::array registrations;
    int n = 0;
    for (const auto& kind : kinds) {
      for (const auto& outcome : outcomes) {
        expected_run run;
        run.id = kind.prefix + "kinds_" + outcome.suffix + "_" + std::to_string(n);
        const auto suffix = kind.workflow && outcome.status == "PROCESSED" ? std::string{"completed"} : outcome.suffix;
        run.event_type = kind.event_prefix + "." + suffix;
        run.fetch_target = "/" + kind.collection + "/" + run.id;
        run.wrapper_key = kind.wrapper_key;
        run.context = json::object{{"n", n}, {"case", run.id}};
        // An unknown field must pass through untouched, as must the metadata.
        fake_->add_run(run_script{.id = run.id,
                                  .kind = "",
                                  .timeline = {{"PENDING", 0ms}, {"PROCESSING", 200ms}, {outcome.status, 600ms}},
                                  .fields = json::object{{"metadata", json::object{{"n", n}}},
                                                         {"futureField", json::array{1, "two", nullptr}}}});
        registrations.push_back(json::object{{"id", run.id}, {"context", run.context}});
        expected.push_back(std::move(run));
        ++n;
      }
    }
    const auto answer = daemon.register_runs(registrations);
    ASSERT_EQ(answer.status, 201u) << answer.body;

    ASSERT_TRUE(wait_for_file_events(expected.size(), 20s))
        << "only " << file_event_count() << " of " << expected.size() << " events";
    // A little longer, so a duplicate or a stray event would show.
    std::this_thread::sleep_for(500ms);
    const auto from_file = file_events();
    const auto from_stdout = stdout_events();
    EXPECT_TRUE(from_file.bad_lines.empty());
    EXPECT_FALSE(from_file.ends_with_partial_line);
    EXPECT_TRUE(from_stdout.bad_lines.empty());
    EXPECT_EQ(from_file.events.size(), expected.size());
    EXPECT_EQ(from_stdout.events.size(), expected.size());
    expect_deterministic_ids(from_file);

    for (const auto& run : expected) {
      SCOPED_TRACE(run.id);
      const auto in_file = events_of(from_file, run.id);
      const auto on_stdout = events_of(from_stdout, run.id);
      ASSERT_EQ(in_file.size(), 1u);
      ASSERT_EQ(on_stdout.size(), 1u);
      EXPECT_EQ(in_file[0], on_stdout[0]) << "every sink receives the same envelope";
      const auto& event = in_file[0];
      EXPECT_EQ(string_field(event, "eventType"), run.event_type);
      EXPECT_EQ(string_field(event, "eventId"), make_event_id(run.id, run.event_type));

      const auto fetched = fetch_from_fake(*fake_, run.fetch_target, api_version);
      ASSERT_EQ(fetched.status, 200u) << fetched.body;
      auto answered = fetched.json();
      if (!run.wrapper_key.empty()) {
        EXPECT_EQ(answered.as_object().at("success"), json::value(true));
        answered = answered.as_object().at(run.wrapper_key);
      }
      EXPECT_EQ(event.at("payload"), answered) << "the payload is the run object exactly as Extend returned it";
      EXPECT_FALSE(event.at("payload").as_object().contains("success"));

      const auto& extra = object_field(event, "hookless");
      EXPECT_EQ(extra.at("context"), json::value(run.context));
      EXPECT_GE(extra.at("polls").to_number<std::int64_t>(), 1);
      EXPECT_FALSE(string_field(extra, "registeredAt").empty());
      EXPECT_FALSE(string_field(extra, "detectedAt").empty());

      const auto record = daemon.run(run.id);
      ASSERT_TRUE(record);
      EXPECT_EQ(string_field(*record, "state"), "finished");
      EXPECT_EQ(record->at("events"), json::value(json::array{json::value(make_event_id(run.id, run.event_type))}));
    }
  }
};

TEST_F(events_test, every_current_kind_and_outcome_makes_one_event_with_the_bare_answer) {
  check_every_kind("2026-02-09", current_kinds);
}

TEST_F(events_test, every_legacy_kind_and_outcome_makes_one_event_with_the_unwrapped_answer) {
  check_every_kind("2025-04-21", legacy_kinds);
}

// needs_review, then the final outcome, in that order in every sink.
TEST_F(events_test, workflow_needs_review_then_completed_in_order) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  const std::string id = "workflow_run_review_then_done";
  fake_->add_run({.id = id,
                  .kind = "",
                  .timeline = {{"PENDING", 0ms}, {"NEEDS_REVIEW", 300ms}, {"PROCESSED", 1500ms}},
                  .fields = {}});
  ASSERT_EQ(daemon.watch({id}).status, 201u);

  ASSERT_TRUE(wait_for_file_events(2, 10s));
  std::this_thread::sleep_for(400ms);
  for (const auto& lines : {file_events(), stdout_events()}) {
    const auto events = events_of(lines, id);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(string_field(events[0], "eventType"), "workflow_run.needs_review");
    EXPECT_EQ(string_field(object_field(events[0], "payload"), "status"), "NEEDS_REVIEW");
    EXPECT_EQ(string_field(events[1], "eventType"), "workflow_run.completed");
    EXPECT_EQ(string_field(object_field(events[1], "payload"), "status"), "PROCESSED");
    EXPECT_NE(string_field(events[0], "eventId"), string_field(events[1], "eventId"));
    expect_deterministic_ids(lines);
  }
  const auto record = daemon.run(id);
  ASSERT_TRUE(record);
  EXPECT_EQ(string_field(*record, "state"), "finished");
  EXPECT_EQ(string_field(*record, "outcome"), "processed");
}

TEST_F(events_test, workflow_without_follow_review_stops_at_needs_review) {
  start_fake();
  auto c = base_config();
  c.follow_review = false;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  const std::string id = "workflow_run_review_only";
  fake_->add_run({.id = id,
                  .kind = "",
                  .timeline = {{"PENDING", 0ms}, {"NEEDS_REVIEW", 300ms}, {"PROCESSED", 1200ms}},
                  .fields = {}});
  ASSERT_EQ(daemon.watch({id}).status, 201u);

  ASSERT_TRUE(wait_for_file_events(1, 10s));
  const auto polls_at_review = fake_->stats().requests_per_run[id];
  std::this_thread::sleep_for(2000ms);  // well past the PROCESSED step
  const auto events = events_of(file_events(), id);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(string_field(events[0], "eventType"), "workflow_run.needs_review");
  EXPECT_EQ(events_of(stdout_events(), id).size(), 1u);
  EXPECT_EQ(fake_->stats().requests_per_run[id], polls_at_review) << "a finished run is not polled any more";
  const auto record = daemon.run(id);
  ASSERT_TRUE(record);
  EXPECT_EQ(string_field(*record, "state"), "finished");
  EXPECT_EQ(string_field(*record, "outcome"), "needs_review");
}

}  // namespace
}  // namespace hookless::blackbox
