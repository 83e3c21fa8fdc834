// Signing a callback the way Extend signs its webhooks (and, optionally, the way Standard Webhooks
// does), so a receiver's existing verifier accepts hookless's requests unchanged. Pure: no I/O, the
// timestamp is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookless {

// Lowercase hex HMAC-SHA256 of "v0:{timestamp}:{body}" keyed by the whole secret string (wss_...
// included), as Extend sends in x-extend-request-signature.
std::string extend_signature(std::string_view secret, std::int64_t timestamp, std::string_view body);

// "v1," + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" (Standard Webhooks). The key is the
// base64-decoded part after "whsec_" when the secret has that prefix and it decodes, else the
// secret's raw bytes, so one wss_ secret serves Extend's verifier and a Standard Webhooks library.
std::string standard_webhooks_signature(std::string_view secret, std::string_view id, std::int64_t timestamp,
                                        std::string_view body);

// What goes into one callback request besides Host and Content-Length.
struct callback_signing {
  std::string secret;  // the sink's signing secret
  bool standard_webhooks = false;
  std::string api_version;  // x-extend-api-version
  std::string user_agent;   // "hookless/{version}"
};

// The callback headers (docs/events.md) for one attempt of delivering `body` (eventId `event_id`) at
// `timestamp` (Unix seconds), in a stable order: content-type, the Extend signature pair, the API
// version, idempotency-key, user-agent, then the Standard Webhooks three when asked for.
std::vector<std::pair<std::string, std::string>> callback_headers(const callback_signing& signing,
                                                                  std::string_view event_id, std::int64_t timestamp,
                                                                  std::string_view body);

}  // namespace hookless
