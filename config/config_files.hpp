// The files a valid config names, opened as the daemon will open them: the API key file, the CA
// files, the database password file, the http sinks' signing secrets, the file sinks' folders and
// the exec sinks' programs.
// `hooklessd --check-config`, the start and a reload fail on one that cannot be used, naming its key and the OS error,
// rather than a config that looks valid and then cannot start (or retries a sink forever).
#pragma once

#include "config/config_loader.hpp"
#include "core/model/settings.hpp"

#include <string>
#include <vector>

namespace hookless {

// The PostgreSQL password in state.password_file: the file's text less its trailing line end.
// Throws std::runtime_error naming the file when it cannot be read or is empty (never the password).
std::string read_database_password(const std::string& path);

// One problem per named file that cannot be used, with the line of its key from `key_lines`
// (config_result::key_lines) when known.
std::vector<config_problem> check_config_files(const config& settings, const std::map<std::string, int>& key_lines);

}  // namespace hookless
