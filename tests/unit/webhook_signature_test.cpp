// The callback signatures against values computed independently (Python's hmac module, and the
// Standard Webhooks reference test vector), and the header set of interface.md §5.
#include "core/delivery/webhook_signature.hpp"
#include "core/formats/base64.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hookless {
namespace {

std::string header(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& name) {
  const auto found = std::ranges::find_if(headers, [&](const auto& h) { return h.first == name; });
  return found == headers.end() ? std::string{"<absent>"} : found->second;
}

TEST(webhook_signature, extend_signature_is_lowercase_hex_hmac_of_v0_timestamp_body_keyed_by_whole_secret) {
  // python3: hmac.new(b'wss_test_secret', b'v0:1700000000:{"eventId":"event_1"}', sha256).hexdigest()
  EXPECT_EQ(extend_signature("wss_test_secret", 1700000000, R"({"eventId":"event_1"})"),
            "ed5a92596a76822857821f513bf942f9ddc8f51b82b041ca1d9565db76952a0c");
}

TEST(webhook_signature, extend_signature_changes_with_every_input) {
  const auto base = extend_signature("wss_a", 1, "{}");
  EXPECT_NE(extend_signature("wss_b", 1, "{}"), base);
  EXPECT_NE(extend_signature("wss_a", 2, "{}"), base);
  EXPECT_NE(extend_signature("wss_a", 1, "{ }"), base);
  EXPECT_EQ(base.size(), 64u);
  EXPECT_TRUE(std::ranges::all_of(base, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

TEST(webhook_signature, standard_webhooks_reference_vector_with_whsec_secret) {
  // The test vector of the Standard Webhooks reference libraries.
  EXPECT_EQ(standard_webhooks_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                        1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(webhook_signature, standard_webhooks_keyed_by_raw_bytes_without_whsec_prefix) {
  // python3: base64(hmac.new(b'wss_test_secret', b'event_1.1700000000.{"a":1}', sha256).digest())
  EXPECT_EQ(standard_webhooks_signature("wss_test_secret", "event_1", 1700000000, R"({"a":1})"),
            "v1,zvuNt7NQOPGAtFBJZFz4cMCGhzMGvUaVYxLCPE2J7qc=");
}

TEST(webhook_signature, base64_round_trips_every_length_and_rejects_garbage) {
  EXPECT_EQ(encode_base64(""), "");
  EXPECT_EQ(encode_base64("f"), "Zg==");
  EXPECT_EQ(encode_base64("fo"), "Zm8=");
  EXPECT_EQ(encode_base64("foo"), "Zm9v");
  EXPECT_EQ(encode_base64("foobar"), "Zm9vYmFy");
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes += static_cast<char>(i * 37);
    EXPECT_EQ(decode_base64(encode_base64(bytes)), bytes) << "length " << bytes.size();
  }
  EXPECT_EQ(decode_base64("Zm8"), "fo");  // unpadded
  EXPECT_FALSE(decode_base64("Zm9v!"));
  EXPECT_FALSE(decode_base64("Z"));
}

TEST(webhook_signature, callback_headers_carry_the_interface_set) {
  const callback_signing signing{.secret = "wss_test_secret",
                                 .standard_webhooks = false,
                                 .api_version = "2026-02-09",
                                 .user_agent = "hookless/1.2.3"};
  const std::string body = R"({"eventId":"event_1"})";
  const auto headers = callback_headers(signing, "event_1", 1700000000, body);
  EXPECT_EQ(header(headers, "content-type"), "application/json");
  EXPECT_EQ(header(headers, "x-extend-request-timestamp"), "1700000000");
  EXPECT_EQ(header(headers, "x-extend-request-signature"),
            "ed5a92596a76822857821f513bf942f9ddc8f51b82b041ca1d9565db76952a0c");
  EXPECT_EQ(header(headers, "x-extend-api-version"), "2026-02-09");
  EXPECT_EQ(header(headers, "idempotency-key"), "event_1");
  EXPECT_EQ(header(headers, "user-agent"), "hookless/1.2.3");
  EXPECT_EQ(header(headers, "webhook-id"), "<absent>");
  EXPECT_EQ(header(headers, "webhook-signature"), "<absent>");
  EXPECT_EQ(headers.size(), 6u);
}

TEST(webhook_signature, callback_headers_add_standard_webhooks_when_asked) {
  const callback_signing signing{.secret = "wss_test_secret",
                                 .standard_webhooks = true,
                                 .api_version = "2026-02-09",
                                 .user_agent = "hookless/1.2.3"};
  const auto headers = callback_headers(signing, "event_1", 1700000000, R"({"a":1})");
  EXPECT_EQ(header(headers, "webhook-id"), "event_1");
  EXPECT_EQ(header(headers, "webhook-timestamp"), "1700000000");
  EXPECT_EQ(header(headers, "webhook-signature"), "v1,zvuNt7NQOPGAtFBJZFz4cMCGhzMGvUaVYxLCPE2J7qc=");
  EXPECT_EQ(headers.size(), 9u);
}

}  // namespace
}  // namespace hookless
