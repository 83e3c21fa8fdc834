// The libpq wrapper (see pg_connection.hpp): connecting and every round trip with a deadline of our
// own (libpq's blocking calls would wait for ever on a frozen server), and the mapping of errors.
#include "core/store/pg_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <utility>

namespace hookless {

namespace {

using steady = std::chrono::steady_clock;

// How long a dead peer goes unnoticed at most: keepalives probe an idle connection after 2 s, then
// every second, three times; tcp_user_timeout drops one whose sent data stays unacknowledged.
constexpr const char* keepalives_idle_s = "2";
constexpr const char* keepalives_interval_s = "1";
constexpr const char* keepalives_count = "3";
constexpr const char* tcp_user_timeout_ms = "5000";
// A round trip may go silent for the statement's own timeout plus this before the connection is
// dropped (a frozen server: its kernel still acknowledges, so TCP sees nothing wrong).
constexpr std::chrono::milliseconds round_trip_margin{500};

// user@host:port/database from a connection string, for messages (the password left out).
std::string describe_server(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw store_failed("state.url is not a valid PostgreSQL connection URL: " + why);
  }
  std::string user, host, port, dbname;
  for (auto* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const std::string_view key = option->keyword;
    if (key == "user") user = option->val;
    if (key == "host" || (key == "hostaddr" && host.empty())) host = option->val;
    if (key == "port") port = option->val;
    if (key == "dbname") dbname = option->val;
  }
  PQconninfoFree(options);
  std::string server = user.empty() ? "" : user + "@";
  server += host.empty() ? "localhost" : host;
  if (!port.empty()) server += ":" + port;
  if (!dbname.empty()) server += "/" + dbname;
  return server;
}

// libpq's messages on one line (they come with newlines and tabs), for logs.
std::string trimmed(const char* text) {
  std::string message;
  for (const char* c = text != nullptr ? text : ""; *c != '\0'; ++c) {
    const bool space = *c == '\n' || *c == '\t' || *c == ' ';
    if (!space) {
      message += *c;
    } else if (!message.empty() && message.back() != ' ') {
      message += ' ';
    }
  }
  if (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

// Notices (e.g. "relation already exists, skipping") are not errors; libpq would print them.
void ignore_notice(void*, const char*) {}

// Waits until the socket is ready (POLLIN and/or POLLOUT) or the deadline passes. False on timeout.
bool wait_socket(int socket, short events, steady::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return false;
    pollfd fd{socket, events, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;  // let libpq meet and report the socket's error
  }
}

// Server errors that mean "this server cannot serve now", not "this request is wrong".
bool means_unavailable(std::string_view sqlstate) {
  return sqlstate.starts_with("08") ||                                         // connection exception
         sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||  // shutting down, starting
         sqlstate == "57014" ||                                                // statement_timeout
         sqlstate == "25006" ||  // read-only transaction: a standby, mid-failover
         sqlstate == "53300";    // too many connections
}

}  // namespace

std::string pg_text_array(const std::vector<std::optional<std::string>>& elements) {
  std::string literal = "{";
  for (const auto& element : elements) {
    if (literal.size() > 1) literal += ',';
    if (!element) {
      literal += "NULL";
      continue;
    }
    literal += '"';
    for (const char c : *element) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

// ---- results ----

void pg_rows::release::operator()(pg_result* result) const noexcept { PQclear(result); }

pg_rows::pg_rows(pg_result* result) noexcept : result_(result) {}

int pg_rows::size() const noexcept { return result_ ? PQntuples(result_.get()) : 0; }

std::size_t pg_rows::affected() const {
  const char* count = result_ ? PQcmdTuples(result_.get()) : "";
  std::size_t value = 0;
  std::from_chars(count, count + std::char_traits<char>::length(count), value);
  return value;
}

bool pg_rows::is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }

std::string_view pg_rows::view(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column), static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::string pg_rows::text(int row, int column) const { return std::string(view(row, column)); }

std::optional<std::string> pg_rows::optional_text(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return text(row, column);
}

std::int64_t pg_rows::int64(int row, int column) const {
  const auto text = view(row, column);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    throw std::runtime_error("PostgreSQL returned '" + std::string(text) +
                             "' where an integer was expected in column " + PQfname(result_.get(), column));
  }
  return value;
}

std::optional<std::int64_t> pg_rows::optional_int64(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return int64(row, column);
}

bool pg_rows::boolean(int row, int column) const { return view(row, column) == "t"; }

// ---- the connection ----

void pg_connection::release::operator()(pg_conn* conn) const noexcept { PQfinish(conn); }

pg_connection::pg_connection(pg_connection_options options)
    : options_(std::move(options)), server_(describe_server(options_.url)), timeout_(options_.statement_timeout) {
  connect();
}

pg_connection::~pg_connection() = default;

void pg_connection::connect() {
  std::vector<const char*> keys{"dbname",           "keepalives",       "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "application_name"};
  std::vector<const char*> values{options_.url.c_str(),
                                  "1",
                                  keepalives_idle_s,
                                  keepalives_interval_s,
                                  keepalives_count,
                                  tcp_user_timeout_ms,
                                  options_.application_name.c_str()};
  if (options_.password) {
    keys.push_back("password");
    values.push_back(options_.password->c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);

  const auto deadline = steady::now() + options_.connect_timeout;
  conn_.reset(PQconnectStartParams(keys.data(), values.data(), 1));
  if (!conn_) fail_unavailable("out of memory");
  if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
  auto polling = PGRES_POLLING_WRITING;
  while (polling != PGRES_POLLING_OK) {
    if (polling == PGRES_POLLING_FAILED) fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
    const short events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_socket(PQsocket(conn_.get()), events, deadline)) {
      fail_unavailable("no connection within " + std::to_string(options_.connect_timeout.count()) + " ms");
    }
    polling = PQconnectPoll(conn_.get());
  }
  PQsetNoticeProcessor(conn_.get(), ignore_notice, nullptr);
}

void pg_connection::close() noexcept { conn_.reset(); }

void pg_connection::fail_unavailable(const std::string& why) {
  close();
  throw store_unavailable("PostgreSQL at " + server_ + " is unavailable: " + why);
}

void pg_connection::ensure_connected() {
  if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return;
  close();
  connect();
}

pg_rows pg_connection::exec(std::string_view sql) {
  if (!conn_) fail_unavailable("the connection was lost");
  const std::string text(sql);
  if (PQsendQuery(conn_.get(), text.c_str()) == 0) fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
  return finish_round_trip(sql);
}

pg_rows pg_connection::exec_params(std::string_view sql, const std::vector<pg_param>& params) {
  if (!conn_) fail_unavailable("the connection was lost");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.text() ? param.text()->c_str() : nullptr);
  const std::string text(sql);
  if (PQsendQueryParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                        nullptr, 0) == 0) {
    fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
  }
  return finish_round_trip(sql);
}

pg_rows pg_connection::finish_round_trip(std::string_view what) {
  // Counted from the last bytes received, so a long answer that keeps coming is not cut short.
  const auto silence = timeout_ + round_trip_margin;
  auto deadline = steady::now() + silence;
  pg_rows last(nullptr);
  pg_rows error(nullptr);
  bool failed = false;
  for (;;) {
    while (PQisBusy(conn_.get()) != 0) {
      if (!wait_socket(PQsocket(conn_.get()), POLLIN, deadline)) {
        timed_out_ = true;
        fail_unavailable("no answer within " + std::to_string(silence.count()) + " ms");
      }
      if (PQconsumeInput(conn_.get()) == 0) fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
      deadline = steady::now() + silence;
    }
    pg_result* result = PQgetResult(conn_.get());
    if (result == nullptr) break;
    const auto status = PQresultStatus(result);
    if (status == PGRES_FATAL_ERROR && !failed) {
      failed = true;
      error = pg_rows(result);
    } else {
      last = pg_rows(result);
    }
  }
  if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_unavailable(trimmed(PQerrorMessage(conn_.get())));
  if (!failed) return last;

  auto* result = error.result_.get();
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state != nullptr ? state : "";
  const std::string message = trimmed(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
  if (sqlstate.empty() || means_unavailable(sqlstate)) {
    if (sqlstate != "57014") close();  // a timed-out statement leaves the connection usable
    throw store_unavailable("PostgreSQL at " + server_ + " is unavailable: " + message +
                            (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")"));
  }
  const std::string detail = message + " (SQLSTATE " + sqlstate + ") in: " + std::string(what.substr(0, 120));
  if (sqlstate == "40001" || sqlstate == "40P01") throw pg_retryable("PostgreSQL at " + server_ + ": " + detail);
  if (sqlstate.starts_with("53")) throw store_full("PostgreSQL at " + server_ + " cannot take more: " + detail);
  throw std::runtime_error("PostgreSQL at " + server_ + ": " + detail);
}

void pg_connection::begin(std::string_view isolation) {
  ensure_connected();
  timeout_ = options_.statement_timeout;
  timed_out_ = false;
  std::string sql = "BEGIN";
  if (!isolation.empty()) sql += " ISOLATION LEVEL " + std::string(isolation);
  sql += "; SET LOCAL statement_timeout = " + std::to_string(timeout_.count());
  sql += "; SET LOCAL idle_in_transaction_session_timeout = " +
         std::to_string(options_.idle_in_transaction_timeout.count());
  try {
    exec(sql);
  } catch (const store_unavailable&) {
    // An idle connection the server dropped (a restart, a failover) shows only when used: nothing
    // was done on it, so one fresh connection is tried before giving up. Not after a timeout: a
    // frozen server would only make the caller wait twice.
    if (conn_ || timed_out_) throw;
    connect();
    exec(sql);
  }
}

void pg_connection::allow_long_statements(std::chrono::milliseconds timeout) {
  exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
  timeout_ = timeout;
}

bool pg_connection::in_transaction() const noexcept {
  return conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE &&
         PQtransactionStatus(conn_.get()) != PQTRANS_UNKNOWN;
}

void pg_connection::rollback_quietly() noexcept {
  if (!in_transaction()) return;
  try {
    exec("ROLLBACK");
  } catch (...) {
    close();  // a connection in an unknown state is not reused
  }
}

}  // namespace hookless
