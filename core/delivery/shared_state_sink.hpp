// The shape the sinks with connections or processes share: their internals (`State`) live in a
// shared_ptr that each delivery in flight holds too, so a sink object let go of by a reload (or the
// queue that used it) never leaves a delivery with freed state. `State` has
// `awaitable<delivery_result> deliver(const delivery_job&)` and `options.limits`.
#pragma once

#include "core/delivery/delivery_queue.hpp"
#include "core/delivery/sink.hpp"

#include <memory>
#include <utility>

namespace hookless {

template <typename State>
class shared_state_sink : public sink, public limited_sink {
 public:
  explicit shared_state_sink(std::shared_ptr<State> state) : state_(std::move(state)) {}

  awaitable<delivery_result> deliver(const delivery_job& job) override {
    const auto state = state_;  // keeps the internals alive while this delivery is in flight
    co_return co_await state->deliver(job);
  }

  delivery_limits limits() const override { return state_->options.limits; }

 protected:
  State& state() const { return *state_; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace hookless
