// Extend's run kinds: which endpoint polls each, how its answer is wrapped, what its ID prefix is,
// and what its webhook events are called. The configured api_version decides.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hookless {

enum class api_generation { current, legacy };  // 2026-02-09 (bare answers) or 2025-04-21 / 2024-12-23 (wrapped)

api_generation generation_of(std::string_view api_version);

struct run_kind_info {
  std::string_view kind;          // registration kind, e.g. "extract_run"
  std::string_view path;          // collection path, e.g. "/extract_runs"
  std::string_view wrapper_key;   // key of a wrapped answer ("processorRun"), empty when answers are bare
  std::string_view event_prefix;  // webhook event prefix, e.g. "batch_processor_run"
  bool listable;                  // the collection answers GET path?sortBy=updatedAt
};

// The kind an ID's prefix names under this API generation, if any.
std::optional<std::string_view> kind_for_id(std::string_view id, api_generation generation);

// The facts for a kind under this generation; nullopt for a kind Extend does not serve there.
std::optional<run_kind_info> describe_kind(std::string_view kind, api_generation generation);

// Every kind Extend serves under this generation.
std::span<const run_kind_info> kinds_of(api_generation generation);

// Event prefix for a run: like describe_kind's, except 2026 parse batches (`bpar_`) are
// batch_parse_run.
std::string event_prefix_for(const run_kind_info& info, std::string_view run_id);

// True for the IDs the control API accepts: 1..255 characters of [A-Za-z0-9_-].
bool is_valid_run_id(std::string_view id);

}  // namespace hookless
