// The http sink: POSTs each event envelope, signed as Extend signs its webhooks, to a local
// application (http:// loopback or a Unix socket) or, with allow_remote, to any http(s) URL, over
// kept-alive connections. What a reply means (judge_reply) is a plain function; order, retries and
// dead letters are the delivery queue's.
#pragma once

#include "core/delivery/delivery_queue.hpp"
#include "core/delivery/sink.hpp"
#include "core/delivery/webhook_signature.hpp"
#include "core/formats/sink_target.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

struct http_sink_options {
  sink_target target;
  callback_signing signing;
  std::chrono::milliseconds timeout{30'000};  // whole request: connect, TLS, write, read
  delivery_limits limits{.max_in_flight = 4, .max_age = std::chrono::milliseconds{3LL * 24 * 3600 * 1000}};
};

// `tls` verifies https targets (in hooklessd: the system store, extend.ca_file and the sink's own
// ca_file); it may be null when the target is not https. The sink and its deliveries in flight share
// it. Kept-alive connections are reused, at most limits.max_in_flight of them; one that the receiver
// closed while idle is retried once on a new connection before the attempt counts as failed
// (receivers de-duplicate on idempotency-key).
std::unique_ptr<sink> make_http_sink(boost::asio::any_io_executor executor,
                                     std::shared_ptr<boost::asio::ssl::context> tls, http_sink_options options);

// The signing secret in `path`, without surrounding whitespace (a trailing newline is usual).
// Throws std::runtime_error naming the file when it cannot be read or is empty.
std::string read_signing_secret(const std::string& path);

// What a reply means for the delivery: any 2xx is delivered; anything else is a failure that says
// the status (and the start of the body), with Retry-After (parse_retry_after:
// seconds or an HTTP date, capped at an hour) when the receiver sent one.
delivery_result judge_reply(unsigned status, std::string_view body, std::optional<std::string_view> retry_after,
                            time_point now);

}  // namespace hookless
