// The API key checked once at start, so that a rejected key shows in health at once instead of at
// the first poll of a registered run: one cheap authenticated request, a one-run page of
// GET /workflow_runs (every api_version serves it), within the request budget and ahead of the
// polls a restart resumes.
#pragma once

#include "core/extend/run_source.hpp"
#include "core/model/run_kind.hpp"
#include "core/net/request_budget.hpp"

#include <optional>

namespace hookless {

// Extend's answer (kind `run`: the key was accepted; `unauthorized`: it was rejected; anything else
// tells nothing about the key, e.g. unreachable), or nullopt when the budget stopped (shutdown).
// Logs the outcome as "API key check: ...". The answer is recorded in the budget like any other.
awaitable<std::optional<list_answer>> check_api_key(run_source& source, request_budget& budget,
                                                    api_generation generation);

}  // namespace hookless
