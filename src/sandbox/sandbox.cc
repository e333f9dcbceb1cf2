// Request validation and running code in a VM: write sources, compile, run.
#include "firerun/sandbox.h"
#include "sandbox/language_table.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

namespace firerun::sandbox {
namespace {

using namespace std::chrono_literals;

// Making directories needs no more than this even under TCG.
constexpr std::chrono::milliseconds kSetupTimeout = 30s;
constexpr std::size_t kMaxFileNameBytes = 1024;
constexpr std::size_t kMaxArgBytes = 1u << 20;  // all args together

Error invalid(const std::string& field, const std::string& what) {
  return Error(Errc::invalid_argument, "request." + field + " " + what);
}

bool valid_env_key(std::string_view k) {
  if (k.empty() || k.size() > 128 || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Relative, normalised, and free of bytes that break paths or argv.
std::string file_name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxFileNameBytes) return "is longer than 1024 bytes";
  if (name[0] == '/') return "must be relative, not absolute";
  if (name.find('\0') != std::string_view::npos) return "contains NUL";
  std::size_t start = 0;
  while (start <= name.size()) {
    auto end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto part = name.substr(start, end - start);
    if (part == "..") return "must not contain '..'";
    if (part.empty() || part == ".") return "must not contain empty or '.' components";
    if (part.size() > 255) return "has a component longer than 255 bytes";
    start = end + 1;
  }
  return {};
}

std::string timeout_problem(std::chrono::milliseconds t) {
  if (t.count() <= 0) return "must be positive";
  if (t > kMaxTimeout) return "must be at most 10 minutes";
  return {};
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// One line of what a failed setup step printed, for the error message.
std::string first_line(const std::string& s) {
  auto line = s.substr(0, std::min(s.find('\n'), std::size_t{200}));
  return line.empty() ? "no output" : line;
}

}  // namespace

const char* to_string(Phase p) noexcept {
  switch (p) {
    case Phase::compile: return "compile";
    case Phase::run: return "run";
  }
  return "?";
}

Status validate(const CodeRequest& request) {
  if (request.language.empty()) return invalid("language", "is empty");
  if (auto lang = find_language(request.language); !lang)
    return Error(Errc::invalid_argument, "request.language: " + lang.error().message());
  if (request.code.empty()) return invalid("code", "is empty");
  if (request.code.size() > kMaxCodeBytes) return invalid("code", "is larger than 1 MiB");
  if (request.files.size() > kMaxFiles) return invalid("files", "has more than 64 entries");

  const Language& language = **find_language(request.language);
  std::size_t total = request.code.size();
  std::set<std::string_view> names{language.source_file};
  for (std::size_t i = 0; i < request.files.size(); ++i) {
    const auto& f = request.files[i];
    std::string field = "files[" + std::to_string(i) + "].name";
    if (auto problem = file_name_problem(f.name); !problem.empty()) return invalid(field, problem);
    if (!names.insert(f.name).second)
      return invalid(field, "'" + f.name + "' is given twice (or is the main source file)");
    total += f.content.size();
    if (total > kMaxTotalSourceBytes) return invalid("files", "add up to more than 16 MiB with the code");
  }
  // A file and a directory of the same name cannot both exist.
  for (const auto& name : names)
    for (auto slash = name.find('/'); slash != std::string_view::npos; slash = name.find('/', slash + 1))
      if (names.count(name.substr(0, slash)))
        return invalid("files", "uses '" + std::string(name.substr(0, slash)) + "' both as a file and a directory");

  if (request.args.size() > kMaxArgs) return invalid("args", "has more than 1024 entries");
  std::size_t arg_bytes = 0;
  for (std::size_t i = 0; i < request.args.size(); ++i) {
    if (request.args[i].find('\0') != std::string::npos)
      return invalid("args[" + std::to_string(i) + "]", "contains NUL");
    arg_bytes += request.args[i].size();
  }
  if (arg_bytes > kMaxArgBytes) return invalid("args", "add up to more than 1 MiB");

  if (request.env.size() > kMaxEnv) return invalid("env", "has more than 256 entries");
  for (const auto& [key, value] : request.env) {
    if (!valid_env_key(key)) return invalid("env", "has an invalid variable name (want [A-Za-z_][A-Za-z0-9_]*)");
    if (value.find('\0') != std::string::npos || value.size() > kMaxArgBytes)
      return invalid("env." + key, "contains NUL or is larger than 1 MiB");
  }
  if (request.stdin_data && request.stdin_data->size() > kMaxStdinBytes)
    return invalid("stdin", "is larger than 16 MiB");

  if (auto problem = timeout_problem(request.timeout); !problem.empty()) return invalid("timeout", problem);
  if (auto problem = timeout_problem(request.compile_timeout); !problem.empty())
    return invalid("compile_timeout", problem);
  if (request.output_cap == 0 || request.output_cap > kMaxOutputCap)
    return invalid("output_cap", "must be between 1 byte and 64 MiB");
  return {};
}

Task<Result<CodeResult>> run_code(Vm& vm, const Language& language, const CodeRequest& request) {
  FIRERUN_CO_CHECK(validate(request));
  CodeResult result;
  result.language = language.name;
  result.version = language.version;

  const std::string dir = "/tmp/firerun-work-" + random_suffix();
  const std::string src = dir + "/" + language.source_file;
  // Outside the work directory, so no source file name can collide with it.
  const std::string out = dir + ".out";

  std::map<std::string, std::string> env = language.env;
  for (const auto& [k, v] : request.env) env[k] = v;

  // The agent writes files but does not create directories.
  std::set<std::string> dirs{dir};
  for (const auto& f : request.files)
    if (auto slash = f.name.rfind('/'); slash != std::string::npos) dirs.insert(dir + "/" + f.name.substr(0, slash));
  ExecRequest mkdir;
  mkdir.argv = {"mkdir", "-p", "--"};
  mkdir.argv.insert(mkdir.argv.end(), dirs.begin(), dirs.end());
  mkdir.timeout = kSetupTimeout;
  auto made = co_await vm.exec(mkdir);
  if (!made) co_return std::move(made).error().with_context("creating the work directory " + dir);
  if (made->exit_code != 0)
    co_return make_error(Errc::guest_failed, "creating the work directory " + dir + ": " + first_line(made->stderr_data));

  auto wrote = co_await vm.write_file(src, request.code, 0644);
  if (!wrote) co_return std::move(wrote).error().with_context("writing the source file");
  for (const auto& f : request.files) {
    const std::string path = dir + "/" + f.name;
    auto wrote_extra = co_await vm.write_file(path, f.content, 0644);
    if (!wrote_extra) co_return std::move(wrote_extra).error().with_context("writing file " + f.name);
  }

  const bool as_root = request.as_root || language.runs_as_root;
  if (!language.compile_argv.empty()) {
    ExecRequest compile;
    compile.argv = detail::substitute(language.compile_argv, src, dir, out);
    compile.env = env;
    compile.cwd = dir;
    compile.timeout = request.compile_timeout;
    compile.output_cap = request.output_cap;
    if (as_root) compile.uid = compile.gid = 0;
    auto compiled = co_await vm.exec(compile);
    if (!compiled) co_return std::move(compiled).error().with_context("compiling " + language.name + " code");
    result.compile_duration = compiled->duration;
    if (compiled->exit_code != 0) {
      result.phase = Phase::compile;
      result.exec = std::move(*compiled);
      co_return result;
    }
  }

  ExecRequest run;
  run.argv = detail::substitute(language.run_argv, src, dir, out);
  run.argv.insert(run.argv.end(), request.args.begin(), request.args.end());
  run.env = std::move(env);
  run.cwd = dir;
  run.stdin_data = request.stdin_data;
  run.timeout = request.timeout;
  run.output_cap = request.output_cap;
  if (as_root) run.uid = run.gid = 0;
  auto ran = co_await vm.exec(run);
  if (!ran) co_return std::move(ran).error().with_context("running " + language.name + " code");
  result.phase = Phase::run;
  result.exec = std::move(*ran);
  co_return result;
}

}  // namespace firerun::sandbox
