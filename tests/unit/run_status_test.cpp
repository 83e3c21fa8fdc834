// The finished-or-not rule and the event each status makes.
#include "core/model/run_status.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hookless {
namespace {

run_kind_info kind(std::string_view name, api_generation generation = api_generation::current) {
  return describe_kind(name, generation).value();
}

TEST(run_status, in_progress_statuses_keep_polling) {
  for (const char* status : {"PENDING", "PROCESSING", "CANCELLING"}) {
    const auto verdict = judge_status(kind("extract_run"), "exr_1", status, true);
    EXPECT_FALSE(verdict.finished) << status;
    EXPECT_FALSE(verdict.event_type) << status;
  }
}

TEST(run_status, processor_kinds_name_events_after_the_status) {
  const auto processed = judge_status(kind("extract_run"), "exr_1", "PROCESSED", true);
  EXPECT_TRUE(processed.finished);
  EXPECT_EQ(processed.event_type, "extract_run.processed");
  EXPECT_EQ(processed.outcome, "processed");
  EXPECT_EQ(judge_status(kind("classify_run"), "clr_1", "FAILED", true).event_type, "classify_run.failed");
  EXPECT_EQ(judge_status(kind("split_run"), "splr_1", "CANCELLED", true).event_type, "split_run.cancelled");
  EXPECT_EQ(judge_status(kind("processor_run", api_generation::legacy), "dpr_1", "PROCESSED", true).event_type,
            "processor_run.processed");
}

TEST(run_status, batches_use_the_batch_processor_names) {
  EXPECT_EQ(judge_status(kind("batch_run"), "bpr_1", "PROCESSED", true).event_type, "batch_processor_run.processed");
  EXPECT_EQ(judge_status(kind("batch_run"), "bpar_1", "FAILED", true).event_type, "batch_parse_run.failed");
  EXPECT_EQ(judge_status(kind("batch_processor_run", api_generation::legacy), "bpr_1", "PROCESSED", true).event_type,
            "batch_processor_run.processed");
}

TEST(run_status, workflow_runs_complete_and_can_wait_for_review) {
  const auto workflow = kind("workflow_run");
  EXPECT_EQ(judge_status(workflow, "workflow_run_1", "PROCESSED", true).event_type, "workflow_run.completed");
  EXPECT_EQ(judge_status(workflow, "workflow_run_1", "PROCESSED", true).outcome, "processed");
  EXPECT_EQ(judge_status(workflow, "workflow_run_1", "REJECTED", true).event_type, "workflow_run.rejected");

  const auto followed = judge_status(workflow, "workflow_run_1", "NEEDS_REVIEW", true);
  EXPECT_EQ(followed.event_type, "workflow_run.needs_review");
  EXPECT_EQ(followed.outcome, "needs_review");
  EXPECT_FALSE(followed.finished);
  EXPECT_TRUE(judge_status(workflow, "workflow_run_1", "NEEDS_REVIEW", false).finished);
}

TEST(run_status, unknown_statuses_count_as_finished) {
  const auto verdict = judge_status(kind("extract_run"), "exr_1", "ARCHIVED", true);
  EXPECT_TRUE(verdict.finished);
  EXPECT_EQ(verdict.event_type, "extract_run.archived");
  EXPECT_EQ(judge_status(kind("workflow_run"), "workflow_run_1", "REVIEWED", true).event_type, "workflow_run.reviewed");
  EXPECT_EQ(judge_status(kind("extract_run"), "exr_1", "ODD STATUS!", true).event_type, "extract_run.odd_status_");
}

TEST(run_status, success_events) {
  EXPECT_TRUE(is_success_event("extract_run.processed"));
  EXPECT_TRUE(is_success_event("workflow_run.completed"));
  EXPECT_FALSE(is_success_event("workflow_run.needs_review"));
  EXPECT_FALSE(is_success_event("run.expired"));
  EXPECT_FALSE(is_success_event("extract_run.failed"));
}

TEST(run_status, known_event_types_are_every_event_hookless_makes) {
  const auto types = known_event_types();
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_EQ(std::adjacent_find(types.begin(), types.end()), types.end()) << "no duplicates";
  const auto known = [&](std::string_view type) { return std::find(types.begin(), types.end(), type) != types.end(); };
  for (const char* type : {"run.expired",
                           "run.not_found",
                           "extract_run.processed",
                           "extract_run.failed",
                           "extract_run.cancelled",
                           "classify_run.processed",
                           "split_run.failed",
                           "parse_run.processed",
                           "edit_run.processed",
                           "form_detection_run.failed",
                           "workflow_run.completed",
                           "workflow_run.failed",
                           "workflow_run.needs_review",
                           "workflow_run.rejected",
                           "workflow_run.cancelled",
                           "workflow_run.reviewed",
                           "batch_processor_run.processed",
                           "batch_parse_run.failed",
                           "evaluation_set_run.processed",
                           "processor_run.processed",
                           "parser_run.processed",
                           "edit_run.failed"}) {
    EXPECT_TRUE(known(type)) << type;
  }
  // Workflows complete rather than process; only workflows are reviewed or rejected.
  for (const char* type : {"workflow_run.processed", "extract_run.needs_review", "extract_run.rejected",
                           "extract_run.completed", "batch_run.processed"}) {
    EXPECT_FALSE(known(type)) << type;
  }
  // Every status that ends a run makes one of them.
  for (const auto generation : {api_generation::current, api_generation::legacy}) {
    for (const auto& info : kinds_of(generation)) {
      for (const char* status : {"PROCESSED", "FAILED", "CANCELLED"}) {
        EXPECT_TRUE(known(*judge_status(info, "run_1", status, false).event_type)) << info.kind << " " << status;
      }
    }
  }
}

}  // namespace
}  // namespace hookless
