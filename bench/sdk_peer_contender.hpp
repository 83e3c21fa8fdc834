// The official Extend SDK's polling helper as a contender: sdk_peer.mjs under Node.js, pointed at the
// fake with the client's baseUrl and NODE_EXTRA_CA_CERTS, measured as hooklessd is.
#pragma once

#include "bench/wait_contenders.hpp"

#include <string>

namespace hookless::bench {

inline constexpr const char* sdk_peer_name = "extend-ai 1.17.0 pollUntilDone";

// The peer's directory in the build tree with extend-ai installed (npm ci of the pin in
// tests/sdk_verify); empty, with the reason in `why`, when it cannot be installed.
fs::path sdk_peer_workspace(std::string& why);

wait_result sdk_peer_waits(const fs::path& workspace, const std::vector<bench_run>& mix, const wait_settings& settings);

}  // namespace hookless::bench
