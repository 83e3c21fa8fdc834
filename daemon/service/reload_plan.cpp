// Deciding what a reload may change. The Extend connection (pool, TLS, key), the control socket, the
// metrics listener and the state store (its file or database, and the node name the database knows
// this daemon by) are built once at start; changing them under live connections and pending runs
// would risk dropping either, so they wait for a restart.
#include "daemon/service/reload_plan.hpp"

#include "core/model/run_kind.hpp"

#include <algorithm>

namespace hookless {

namespace {

template <typename T>
void keep(const char* key, const T& running, T& loaded, std::vector<std::string>& needs_restart) {
  if (running == loaded) return;
  needs_restart.emplace_back(key);
  loaded = running;
}

// "a, b" for the log.
std::string reload_name_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

bool same_sink(const sink_config& a, const sink_config& b) {
  return a.type == b.type && a.path == b.path && a.target == b.target &&
         a.signing_secret_file == b.signing_secret_file && a.standard_webhooks == b.standard_webhooks &&
         a.allow_remote == b.allow_remote && a.ca_file == b.ca_file && a.timeout == b.timeout &&
         a.max_age == b.max_age && a.events == b.events &&
         // exec
         a.command == b.command && a.max_running == b.max_running &&
         // redis
         a.redis == b.redis && a.password_file == b.password_file && a.stream == b.stream && a.maxlen == b.maxlen;
}

reload_plan plan_reload(const config& running, const config& loaded) {
  reload_plan plan;
  plan.effective = loaded;
  auto& e = plan.effective.extend;
  auto& restart = plan.needs_restart;
  keep("extend.base_url", running.extend.base_url, e.base_url, restart);
  keep("extend.api_version", running.extend.api_version, e.api_version, restart);
  keep("extend.api_key_file", running.extend.api_key_file, e.api_key_file, restart);
  keep("extend.workspace_id", running.extend.workspace_id, e.workspace_id, restart);
  keep("extend.ca_file", running.extend.ca_file, e.ca_file, restart);
  keep("extend.proxy", running.extend.proxy, e.proxy, restart);
  keep("extend.max_connections", running.extend.max_connections, e.max_connections, restart);
  keep("extend.timeout", running.extend.timeout, e.timeout, restart);
  auto& c = plan.effective.control;
  keep("control.socket", running.control.socket, c.socket, restart);
  keep("control.socket_mode", running.control.socket_mode, c.socket_mode, restart);
  keep("control.socket_group", running.control.socket_group, c.socket_group, restart);
  keep("control.admin_uids", running.control.admin_uids, c.admin_uids, restart);
  keep("state.path", running.state.path, plan.effective.state.path, restart);
  keep("state.url", running.state.url, plan.effective.state.url, restart);
  keep("state.password_file", running.state.password_file, plan.effective.state.password_file, restart);
  keep("state.retention", running.state.retention, plan.effective.state.retention, restart);
  keep("cluster.node", running.cluster.node, plan.effective.cluster.node, restart);
  // The metrics listener is bound once at start, like the control socket.
  keep("metrics.listen", running.metrics.listen, plan.effective.metrics.listen, restart);

  for (const auto& [name, settings] : loaded.sinks) {
    const auto before = running.sinks.find(name);
    if (before == running.sinks.end())
      plan.sinks_added.push_back(name);
    else if (!same_sink(before->second, settings))
      plan.sinks_changed.push_back(name);
  }
  for (const auto& [name, settings] : running.sinks) {
    if (!loaded.sinks.contains(name)) plan.sinks_removed.push_back(name);
  }

  // The file's kinds were checked against its api_version; while the running one stays (a
  // restart changes it), a kind the running one cannot list keeps the running subscriptions.
  const auto generation = generation_of(plan.effective.extend.api_version);
  const bool listable_now = std::ranges::all_of(plan.effective.subscriptions, [&](const auto& entry) {
    return std::ranges::all_of(entry.second.kinds, [&](const std::string& kind) {
      const auto info = describe_kind(kind, generation);
      return info && info->listable;
    });
  });
  if (!listable_now) {
    plan.effective.subscriptions = running.subscriptions;
    restart.emplace_back("subscriptions");
  }
  for (const auto& [name, settings] : plan.effective.subscriptions) {
    const auto before = running.subscriptions.find(name);
    if (before == running.subscriptions.end())
      plan.subscriptions_added.push_back(name);
    else if (before->second.kinds != settings.kinds || before->second.sinks != settings.sinks)
      plan.subscriptions_changed.push_back(name);
  }
  for (const auto& [name, settings] : running.subscriptions) {
    if (!plan.effective.subscriptions.contains(name)) plan.subscriptions_removed.push_back(name);
  }
  return plan;
}

std::string describe_subscription_changes(const reload_plan& plan) {
  std::string out;
  const auto part = [&](const std::vector<std::string>& names, const char* what) {
    if (names.empty()) return;
    out += (out.empty() ? "subscriptions: " : ", ") + std::to_string(names.size()) + " " + what + " (" +
           reload_name_list(names) + ")";
  };
  part(plan.subscriptions_added, "added");
  part(plan.subscriptions_changed, "changed");
  part(plan.subscriptions_removed, "removed");
  return out.empty() ? "subscriptions unchanged" : out;
}

}  // namespace hookless
