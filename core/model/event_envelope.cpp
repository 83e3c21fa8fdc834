// Building event envelopes as text, so the payload stays exactly as Extend wrote it.
#include "core/model/event_envelope.hpp"

#include "core/formats/timestamp.hpp"

#include <openssl/evp.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <array>

namespace hookless {

std::string make_event_id(std::string_view run_id, std::string_view event_type) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // A NUL separates the parts: neither an ID nor an event type can contain one.
  std::string message{run_id};
  message.push_back('\0');
  message.append(event_type);
  EVP_Digest(message.data(), message.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "event_";
  for (unsigned int i = 0; i < 16 && i < length; ++i) {
    id.push_back(hex[digest[i] >> 4]);
    id.push_back(hex[digest[i] & 0xF]);
  }
  return id;
}

run_event make_event(const run_record& run, std::string_view event_type, std::string_view payload_json,
                     time_point detected_at) {
  run_event event{.event_id = make_event_id(run.id, event_type), .event_type = std::string{event_type}, .body = {}};
  boost::json::object hookless_fields{
      {"registeredAt", format_time(run.registered_at)},
      {"detectedAt", format_time(detected_at)},
      {"polls", run.polls},
      {"context", run.context},
  };
  // A run a subscription found (docs/subscriptions.md): named last; a registered run has no such key.
  if (run.subscription) hookless_fields.emplace("subscription", *run.subscription);
  auto& body = event.body;
  body = R"({"eventId":)" + boost::json::serialize(boost::json::value(event.event_id));
  body += R"(,"eventType":)" + boost::json::serialize(boost::json::value(event.event_type));
  body += R"(,"payload":)";
  body += payload_json;
  body += R"(,"hookless":)" + boost::json::serialize(hookless_fields) + "}";
  return event;
}

std::string daemon_event_payload(const run_record& run, std::string_view reason) {
  const auto last_status = run.status ? boost::json::value(*run.status) : boost::json::value(nullptr);
  const boost::json::object payload{
      {"object", "run"}, {"id", run.id}, {"kind", run.kind}, {"lastStatus", last_status}, {"reason", reason}};
  return boost::json::serialize(payload);
}

}  // namespace hookless
