// The names of run and delivery states (see run.hpp): one table for the state file and the control API.
#include "core/model/run.hpp"

#include <stdexcept>

namespace hookless {

std::string_view to_string(run_state state) {
  switch (state) {
    case run_state::pending: return "pending";
    case run_state::finished: return "finished";
  }
  throw std::logic_error("run_state out of range");
}

std::string_view to_string(delivery_state state) {
  switch (state) {
    case delivery_state::pending: return "pending";
    case delivery_state::done: return "done";
    case delivery_state::dead: return "dead";
  }
  throw std::logic_error("delivery_state out of range");
}

std::optional<run_state> parse_run_state(std::string_view name) {
  for (const auto state : {run_state::pending, run_state::finished}) {
    if (name == to_string(state)) return state;
  }
  return std::nullopt;
}

std::optional<delivery_state> parse_delivery_state(std::string_view name) {
  for (const auto state : {delivery_state::pending, delivery_state::done, delivery_state::dead}) {
    if (name == to_string(state)) return state;
  }
  return std::nullopt;
}

}  // namespace hookless
