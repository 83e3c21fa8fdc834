// gtest's ASSERT_* return from the function, which a coroutine cannot do: CO_ASSERT_TRUE fails the
// test and co_returns. (Include gtest where it is used.)
#pragma once

#define CO_ASSERT_TRUE(condition)                     \
  if (!(condition)) {                                 \
    ADD_FAILURE() << "assertion failed: " #condition; \
    co_return;                                        \
  }
