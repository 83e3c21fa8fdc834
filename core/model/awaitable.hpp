// The coroutine type every asynchronous interface of hookless returns (the store, run sources,
// sinks), in one short name; a header of its own so an interface needs nothing else to use it.
#pragma once

#include <boost/asio/awaitable.hpp>

namespace hookless {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

}  // namespace hookless
