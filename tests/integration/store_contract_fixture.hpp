// The fixture of the store contract suite: one test's backend (store_backends.hpp), its io_context,
// and opening the store there. The suite is split in two programs: the contract
// (store_contract_test.cpp) and its speed targets, which run alone (store_speed_test.cpp).
#pragma once

#include "tests/integration/store_backends.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>

namespace hookless::test {

class store_contract_test : public ::testing::TestWithParam<store_kind> {
 protected:
  void TearDown() override { EXPECT_EQ(backend_->check_at_rest(), "ok"); }

  std::unique_ptr<state_store> open_store(open_report& report) { return backend_->open(context_, report); }

  std::unique_ptr<state_store> open_store() {
    open_report report;
    auto store = open_store(report);
    EXPECT_TRUE(report.messages.empty());
    return store;
  }

  // Runs one test body as a coroutine on the test's io_context, with a deadline.
  void run(std::function<boost::asio::awaitable<void>()> body, std::chrono::seconds limit = std::chrono::seconds{25}) {
    run_with_deadline(context_, std::move(body), limit, run_stop::work_ran_out);
    context_.restart();
  }

  boost::asio::io_context context_;
  std::unique_ptr<store_backend> backend_ = make_store_backend(GetParam());
};

// Runs the suite's tests on every backend, each test's name ending with its backend's.
#define HOOKLESS_STORE_CONTRACT_BACKENDS(fixture)                                                        \
  INSTANTIATE_TEST_SUITE_P(both, fixture, ::testing::Values(store_kind::sqlite, store_kind::postgresql), \
                           [](const ::testing::TestParamInfo<store_kind>& backend) { return name_of(backend.param); })

}  // namespace hookless::test
