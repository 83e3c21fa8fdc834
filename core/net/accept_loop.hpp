// The accept loop the daemon's servers share (the control socket, the metrics listener): every
// accepted socket goes to the server's handler; a failed accept (out of file descriptors, say) is
// logged and retried after a pause instead of spinning; closing the acceptor ends the loop.
#pragma once

#include "core/model/awaitable.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>
#include <utility>

namespace hookless {

// Runs until `stopping` is true or the acceptor is closed. `server` names it in the log.
template <typename Acceptor, typename OnSocket>
awaitable<void> accept_connections(Acceptor& acceptor, const bool& stopping, std::string_view server,
                                   OnSocket on_socket) {
  namespace asio = boost::asio;
  while (!stopping) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("{}: accept failed: {}", server, ec.message());
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds{100});
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    on_socket(std::move(socket));
  }
}

}  // namespace hookless
