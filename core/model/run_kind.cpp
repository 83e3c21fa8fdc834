// Extend's run kinds per API generation, as data (docs/control-api.md lists the prefixes).
#include "core/model/run_kind.hpp"

#include <algorithm>
#include <array>

namespace hookless {
namespace {

struct prefix_rule {
  std::string_view prefix;
  std::string_view kind;
};

// Longer prefixes first where one is a prefix of another (none today, but keep the rule).
constexpr std::array current_prefixes{
    prefix_rule{"workflow_run_", "workflow_run"},
    prefix_rule{"exr_", "extract_run"},
    prefix_rule{"clr_", "classify_run"},
    prefix_rule{"splr_", "split_run"},
    prefix_rule{"pr_", "parse_run"},
    prefix_rule{"edr_", "edit_run"},
    prefix_rule{"sgr_", "form_detection_run"},
    prefix_rule{"bpar_", "batch_run"},
    prefix_rule{"bpr_", "batch_run"},
    prefix_rule{"evr_", "evaluation_set_run"},
    prefix_rule{"dpr_", "processor_run"},
};

constexpr std::array legacy_prefixes{
    prefix_rule{"workflow_run_", "workflow_run"}, prefix_rule{"parser_run_", "parser_run"},
    prefix_rule{"edit_run_", "edit_run"},         prefix_rule{"dpr_", "processor_run"},
    prefix_rule{"bpr_", "batch_processor_run"},
};

constexpr std::array current_kinds{
    run_kind_info{"extract_run", "/extract_runs", "", "extract_run", true},
    run_kind_info{"classify_run", "/classify_runs", "", "classify_run", true},
    run_kind_info{"split_run", "/split_runs", "", "split_run", true},
    run_kind_info{"parse_run", "/parse_runs", "", "parse_run", true},
    run_kind_info{"edit_run", "/edit_runs", "", "edit_run", false},
    run_kind_info{"form_detection_run", "/form_detection_runs", "", "form_detection_run", false},
    run_kind_info{"workflow_run", "/workflow_runs", "", "workflow_run", true},
    run_kind_info{"batch_run", "/batch_runs", "", "batch_processor_run", false},
    run_kind_info{"evaluation_set_run", "/evaluation_set_runs", "", "evaluation_set_run", false},
    // The legacy processor runs are still served, and still wrapped, under the current version.
    run_kind_info{"processor_run", "/processor_runs", "processorRun", "processor_run", true},
};

constexpr std::array legacy_kinds{
    run_kind_info{"processor_run", "/processor_runs", "processorRun", "processor_run", true},
    run_kind_info{"workflow_run", "/workflow_runs", "workflowRun", "workflow_run", true},
    run_kind_info{"batch_processor_run", "/batch_processor_runs", "batchProcessorRun", "batch_processor_run", false},
    run_kind_info{"parser_run", "/parser_runs", "parserRun", "parser_run", false},
    run_kind_info{"edit_run", "/edit_runs", "editRun", "edit_run", false},
};

template <typename Table>
std::optional<std::string_view> match_prefix(const Table& table, std::string_view id) {
  const auto rule = std::ranges::find_if(table, [&](const prefix_rule& r) { return id.starts_with(r.prefix); });
  if (rule == table.end()) return std::nullopt;
  return rule->kind;
}

template <typename Table>
std::optional<run_kind_info> find_kind(const Table& table, std::string_view kind) {
  const auto info = std::ranges::find_if(table, [&](const run_kind_info& k) { return k.kind == kind; });
  if (info == table.end()) return std::nullopt;
  return *info;
}

}  // namespace

api_generation generation_of(std::string_view api_version) {
  // Every version before 2026-02-09 wraps its answers; ISO dates compare as strings.
  return api_version < std::string_view{"2026-02-09"} ? api_generation::legacy : api_generation::current;
}

std::optional<std::string_view> kind_for_id(std::string_view id, api_generation generation) {
  return generation == api_generation::current ? match_prefix(current_prefixes, id) : match_prefix(legacy_prefixes, id);
}

std::optional<run_kind_info> describe_kind(std::string_view kind, api_generation generation) {
  return generation == api_generation::current ? find_kind(current_kinds, kind) : find_kind(legacy_kinds, kind);
}

std::span<const run_kind_info> kinds_of(api_generation generation) {
  if (generation == api_generation::current) return current_kinds;
  return legacy_kinds;
}

std::string event_prefix_for(const run_kind_info& info, std::string_view run_id) {
  if (info.kind == "batch_run" && run_id.starts_with("bpar_")) return "batch_parse_run";
  return std::string{info.event_prefix};
}

bool is_valid_run_id(std::string_view id) {
  if (id.empty() || id.size() > 255) return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace hookless
