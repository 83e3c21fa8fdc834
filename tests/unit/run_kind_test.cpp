// The run-kind tables: prefixes, endpoints, wrappers and event prefixes per API generation.
#include "core/model/run_kind.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

TEST(run_kind, generation_follows_the_api_version) {
  EXPECT_EQ(generation_of("2026-02-09"), api_generation::current);
  EXPECT_EQ(generation_of("2025-04-21"), api_generation::legacy);
  EXPECT_EQ(generation_of("2024-12-23"), api_generation::legacy);
}

TEST(run_kind, current_prefixes) {
  const auto current = api_generation::current;
  EXPECT_EQ(kind_for_id("exr_1", current), "extract_run");
  EXPECT_EQ(kind_for_id("clr_1", current), "classify_run");
  EXPECT_EQ(kind_for_id("splr_1", current), "split_run");
  EXPECT_EQ(kind_for_id("pr_1", current), "parse_run");
  EXPECT_EQ(kind_for_id("edr_1", current), "edit_run");
  EXPECT_EQ(kind_for_id("sgr_1", current), "form_detection_run");
  EXPECT_EQ(kind_for_id("workflow_run_1", current), "workflow_run");
  EXPECT_EQ(kind_for_id("bpr_1", current), "batch_run");
  EXPECT_EQ(kind_for_id("bpar_1", current), "batch_run");
  EXPECT_EQ(kind_for_id("dpr_1", current), "processor_run");
  EXPECT_FALSE(kind_for_id("xyz_1", current).has_value());
  EXPECT_FALSE(kind_for_id("parser_run_1", current).has_value());
}

TEST(run_kind, legacy_prefixes_differ) {
  const auto legacy = api_generation::legacy;
  EXPECT_EQ(kind_for_id("bpr_1", legacy), "batch_processor_run");
  EXPECT_EQ(kind_for_id("parser_run_1", legacy), "parser_run");
  EXPECT_EQ(kind_for_id("edit_run_1", legacy), "edit_run");
  EXPECT_FALSE(kind_for_id("exr_1", legacy).has_value());
}

TEST(run_kind, endpoints_wrappers_and_events) {
  const auto batch = describe_kind("batch_run", api_generation::current);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->path, "/batch_runs");
  EXPECT_EQ(event_prefix_for(*batch, "bpr_1"), "batch_processor_run");
  EXPECT_EQ(event_prefix_for(*batch, "bpar_1"), "batch_parse_run");

  const auto processor = describe_kind("processor_run", api_generation::current);
  ASSERT_TRUE(processor);
  EXPECT_EQ(processor->wrapper_key, "processorRun");

  const auto legacy_workflow = describe_kind("workflow_run", api_generation::legacy);
  ASSERT_TRUE(legacy_workflow);
  EXPECT_EQ(legacy_workflow->wrapper_key, "workflowRun");
  EXPECT_EQ(describe_kind("workflow_run", api_generation::current)->wrapper_key, "");
  EXPECT_FALSE(describe_kind("extract_run", api_generation::legacy));
  EXPECT_EQ(describe_kind("batch_processor_run", api_generation::legacy)->path, "/batch_processor_runs");
}

TEST(run_kind, id_rules) {
  EXPECT_TRUE(is_valid_run_id("exr_AZaz09-_"));
  EXPECT_TRUE(is_valid_run_id(std::string(255, 'a')));
  EXPECT_FALSE(is_valid_run_id(std::string(256, 'a')));
  EXPECT_FALSE(is_valid_run_id(""));
  EXPECT_FALSE(is_valid_run_id("exr/../x"));
  EXPECT_FALSE(is_valid_run_id("exr 1"));
}

}  // namespace
}  // namespace hookless
