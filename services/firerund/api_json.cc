#include "api_json.h"

#include "firerun/text.h"

#include <boost/json.hpp>

#include <cstring>
#include <set>

namespace firerun::daemon {
namespace json = boost::json;
namespace {

Error field_error(std::string_view field, std::string_view what) {
  return Error(Errc::invalid_argument, std::string(field) + ": " + std::string(what));
}

Result<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return Error(Errc::invalid_argument, "malformed JSON body: " + ec.message());
  if (!v.is_object()) return Error(Errc::invalid_argument, "the JSON body must be an object");
  return std::move(v.as_object());
}

Result<std::string> string_field(const json::value& v, std::string_view name) {
  if (!v.is_string()) return field_error(name, "must be a string");
  return std::string(v.as_string());
}

/// A non-negative integer (JSON numbers like 5000 or 5000.0); nullopt = absent/null.
Result<std::optional<std::uint64_t>> uint_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return std::optional<std::uint64_t>();
  const json::value& v = it->value();
  if (v.is_uint64()) return std::optional<std::uint64_t>(v.as_uint64());
  if (v.is_int64() && v.as_int64() >= 0) return std::optional<std::uint64_t>(static_cast<std::uint64_t>(v.as_int64()));
  if (v.is_double() && v.as_double() >= 0 && v.as_double() < 1e15 &&
      v.as_double() == static_cast<double>(static_cast<std::uint64_t>(v.as_double())))
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(v.as_double()));
  return field_error(name, "must be a non-negative integer");
}

Result<std::vector<std::string>> string_array(const json::value& v, std::string_view name) {
  if (!v.is_array()) return field_error(name, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : v.as_array()) {
    if (!item.is_string()) return field_error(name, "must be an array of strings");
    out.emplace_back(item.as_string());
  }
  return out;
}

Status apply_limits(ExecuteInput& in, const json::object& o, const Limits& limits, std::string_view timeout_field,
                    bool has_timeout) {
  std::uint64_t total = in.request.code.size();
  for (const auto& f : in.request.files) total += f.content.size();
  if (total > limits.max_code_bytes)
    return Error(Errc::limit_exceeded, "code and files are " + std::to_string(total) + " bytes; the limit is " +
                                           std::to_string(limits.max_code_bytes));
  if (in.request.stdin_data && in.request.stdin_data->size() > limits.max_code_bytes)
    return Error(Errc::limit_exceeded, "stdin exceeds " + std::to_string(limits.max_code_bytes) + " bytes");
  if (!has_timeout) {
    in.request.timeout = std::chrono::milliseconds(limits.default_timeout_ms);
  } else if (in.request.timeout.count() <= 0 ||
             static_cast<std::uint64_t>(in.request.timeout.count()) > limits.max_timeout_ms) {
    return field_error(timeout_field, "must be between 1 and " + std::to_string(limits.max_timeout_ms));
  }
  if (in.request.compile_timeout.count() <= 0 ||
      static_cast<std::uint64_t>(in.request.compile_timeout.count()) > std::max<std::uint64_t>(limits.max_timeout_ms, 60000))
    return field_error("compile_timeout", "must be between 1 and " +
                                              std::to_string(std::max<std::uint64_t>(limits.max_timeout_ms, 60000)));
  if (in.memory_mb > limits.max_memory_mb)
    return field_error("memory_mb", "must be at most " + std::to_string(limits.max_memory_mb));
  if (in.vcpus == 0 || in.vcpus > limits.max_vcpus)
    return field_error("vcpus", "must be between 1 and " + std::to_string(limits.max_vcpus));
  in.request.output_cap = limits.max_output_bytes;
  if (in.request.as_root && !limits.allow_root)
    return field_error("root", "is not allowed on this server (limits.allow_root)");
  (void)o;
  return {};
}

const std::set<std::string_view> kV1Fields = {"lang", "language", "code", "stdin", "files", "args",
                                              "env", "timeout_ms", "compile_timeout_ms", "memory_mb", "vcpus",
                                              "output_cap", "output_encoding", "root"};

}  // namespace

Result<ExecuteInput> parse_execute(std::string_view body, const Limits* limits) {
  FIRERUN_TRY(auto o, parse_object(body));
  for (const auto& kv : o)
    if (!kV1Fields.count(kv.key())) return field_error(kv.key(), "unknown field");
  ExecuteInput in;
  auto& r = in.request;
  const json::value* lang = o.if_contains("lang");
  if (!lang) lang = o.if_contains("language");
  if (!lang) return field_error("lang", "is required");
  FIRERUN_TRY(r.language, string_field(*lang, "lang"));
  const json::value* code = o.if_contains("code");
  if (!code) return field_error("code", "is required");
  FIRERUN_TRY(r.code, string_field(*code, "code"));
  if (auto* v = o.if_contains("stdin"); v && !v->is_null()) {
    FIRERUN_TRY(auto s, string_field(*v, "stdin"));
    r.stdin_data = std::move(s);
  }
  if (auto* v = o.if_contains("files"); v && !v->is_null()) {
    if (!v->is_array()) return field_error("files", "must be an array of {name, content}");
    for (const auto& f : v->as_array()) {
      if (!f.is_object()) return field_error("files", "must be an array of {name, content}");
      const auto& fo = f.as_object();
      const json::value* name = fo.if_contains("name");
      const json::value* content = fo.if_contains("content");
      if (!name || !content || !name->is_string() || !content->is_string())
        return field_error("files", "each file needs string 'name' and 'content'");
      r.files.push_back({std::string(name->as_string()), std::string(content->as_string())});
    }
  }
  if (auto* v = o.if_contains("args"); v && !v->is_null()) {
    FIRERUN_TRY(r.args, string_array(*v, "args"));
  }
  if (auto* v = o.if_contains("env"); v && !v->is_null()) {
    if (!v->is_object()) return field_error("env", "must be an object of strings");
    for (const auto& kv : v->as_object()) {
      if (!kv.value().is_string()) return field_error("env", "values must be strings");
      r.env[std::string(kv.key())] = std::string(kv.value().as_string());
    }
  }
  FIRERUN_TRY(auto timeout, uint_field(o, "timeout_ms"));
  if (timeout) r.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*timeout, 1ull << 40)));
  // A negative timeout is a number but not an unsigned one: uint_field already refused it.
  FIRERUN_TRY(auto compile_timeout, uint_field(o, "compile_timeout_ms"));
  if (compile_timeout)
    r.compile_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*compile_timeout, 1ull << 40)));
  FIRERUN_TRY(auto memory, uint_field(o, "memory_mb"));
  if (memory) {
    if (*memory == 0) return field_error("memory_mb", "must be positive");
    in.memory_mb = *memory;
  }
  FIRERUN_TRY(auto vcpus, uint_field(o, "vcpus"));
  if (vcpus) in.vcpus = static_cast<unsigned>(std::min<std::uint64_t>(*vcpus, 1u << 16));
  if (auto* v = o.if_contains("output_encoding"); v && !v->is_null()) {
    FIRERUN_TRY(auto encoding, string_field(*v, "output_encoding"));
    if (encoding != "utf8" && encoding != "base64") return field_error("output_encoding", "must be utf8 or base64");
    in.output_base64 = encoding == "base64";
  }
  if (auto* v = o.if_contains("root"); v && !v->is_null()) {
    if (!v->is_bool()) return field_error("root", "must be true or false");
    r.as_root = v->as_bool();
  }
  FIRERUN_TRY(auto cap, uint_field(o, "output_cap"));
  if (limits) {
    FIRERUN_CHECK(apply_limits(in, o, *limits, "timeout_ms", timeout.has_value()));
    if (cap && *cap < r.output_cap) r.output_cap = *cap;
  } else if (cap) {
    r.output_cap = *cap;
  }
  return in;
}

namespace {

Result<std::string> decode_content(const std::string& content, const std::string& encoding) {
  if (encoding.empty() || encoding == "utf8") return content;
  if (encoding == "hex") {
    if (content.size() % 2) return field_error("files[].content", "hex content has an odd length");
    std::string out;
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (std::size_t i = 0; i < content.size(); i += 2) {
      int hi = nibble(content[i]), lo = nibble(content[i + 1]);
      if (hi < 0 || lo < 0) return field_error("files[].content", "is not valid hex");
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
  }
  if (encoding == "base64") {
    auto decoded = base64_decode(content);
    if (!decoded) return field_error("files[].content", "is not valid base64");
    return std::move(*decoded);
  }
  return field_error("files[].encoding", "must be one of utf8, base64, hex");
}

const std::set<std::string_view> kPistonFields = {"language", "version", "files", "stdin", "args", "run_timeout",
                                                  "compile_timeout", "compile_memory_limit", "run_memory_limit",
                                                  "run_cpu_time", "compile_cpu_time"};

}  // namespace

Result<ExecuteInput> parse_piston_execute(std::string_view body, const Limits& limits) {
  FIRERUN_TRY(auto o, parse_object(body));
  for (const auto& kv : o)
    if (!kPistonFields.count(kv.key())) return field_error(kv.key(), "unknown field");
  ExecuteInput in;
  auto& r = in.request;
  const json::value* lang = o.if_contains("language");
  if (!lang) return field_error("language", "is required");
  FIRERUN_TRY(r.language, string_field(*lang, "language"));
  const json::value* files = o.if_contains("files");
  if (!files || !files->is_array() || files->as_array().empty())
    return field_error("files", "must be a non-empty array of {name?, content, encoding?}");
  bool first = true;
  for (const auto& f : files->as_array()) {
    if (!f.is_object()) return field_error("files", "must be an array of objects");
    const auto& fo = f.as_object();
    const json::value* content = fo.if_contains("content");
    if (!content || !content->is_string()) return field_error("files[].content", "is required and must be a string");
    std::string encoding;
    if (auto* e = fo.if_contains("encoding"); e && !e->is_null()) {
      FIRERUN_TRY(encoding, string_field(*e, "files[].encoding"));
    }
    FIRERUN_TRY(auto data, decode_content(std::string(content->as_string()), encoding));
    std::string name;
    if (auto* n = fo.if_contains("name"); n && !n->is_null()) {
      FIRERUN_TRY(name, string_field(*n, "files[].name"));
    }
    if (first) {
      r.code = std::move(data);  // Piston runs the first file
      first = false;
    } else {
      if (name.empty()) name = "file" + std::to_string(r.files.size() + 1);
      r.files.push_back({std::move(name), std::move(data)});
    }
  }
  if (auto* v = o.if_contains("stdin"); v && !v->is_null()) {
    FIRERUN_TRY(auto s, string_field(*v, "stdin"));
    r.stdin_data = std::move(s);
  }
  if (auto* v = o.if_contains("args"); v && !v->is_null()) {
    FIRERUN_TRY(r.args, string_array(*v, "args"));
  }
  FIRERUN_TRY(auto run_timeout, uint_field(o, "run_timeout"));
  if (run_timeout) r.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*run_timeout, 1ull << 40)));
  FIRERUN_TRY(auto compile_timeout, uint_field(o, "compile_timeout"));
  if (compile_timeout)
    r.compile_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*compile_timeout, 1ull << 40)));
  // Memory limits are bytes in Piston; -1 means "no limit" (we use the default VM size).
  for (const char* key : {"run_memory_limit", "compile_memory_limit"}) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) continue;
    if (v->is_int64() && v->as_int64() == -1) continue;
    FIRERUN_TRY(auto bytes, uint_field(o, key));
    if (bytes && *bytes > 0) in.memory_mb = std::max(in.memory_mb, (*bytes + (1u << 20) - 1) >> 20);
  }
  FIRERUN_CHECK(apply_limits(in, o, limits, "run_timeout", run_timeout.has_value()));
  return in;
}

std::string payload_json(const ExecuteInput& in) {
  const auto& r = in.request;
  json::object o;
  o["lang"] = r.language;
  o["code"] = r.code;
  if (r.stdin_data) o["stdin"] = *r.stdin_data;
  json::array files;
  for (const auto& f : r.files) files.push_back(json::object{{"name", f.name}, {"content", f.content}});
  o["files"] = std::move(files);
  json::array args;
  for (const auto& a : r.args) args.push_back(json::value(a));
  o["args"] = std::move(args);
  json::object env;
  for (const auto& [k, v] : r.env) env[k] = v;
  o["env"] = std::move(env);
  o["timeout_ms"] = r.timeout.count();
  o["compile_timeout_ms"] = r.compile_timeout.count();
  if (in.memory_mb) o["memory_mb"] = in.memory_mb;
  o["vcpus"] = in.vcpus;
  o["output_cap"] = r.output_cap;
  if (in.output_base64) o["output_encoding"] = "base64";
  if (r.as_root) o["root"] = true;
  return json::serialize(o);
}

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

std::string execute_result_json(const std::string& trace_id, const sandbox::CodeResult& result, bool with_base64) {
  const ExecResult& e = result.exec;
  json::object o;
  o["trace_id"] = trace_id;
  o["language"] = result.language;
  o["version"] = result.version;
  // Boost.JSON writes strings byte for byte: anything but valid UTF-8 would
  // make the whole answer invalid JSON.
  o["stdout"] = to_valid_utf8(e.stdout_data);
  o["stderr"] = to_valid_utf8(e.stderr_data);
  if (with_base64) {
    o["stdout_base64"] = base64_encode(e.stdout_data);
    o["stderr_base64"] = base64_encode(e.stderr_data);
  }
  o["exit_code"] = e.exit_code ? json::value(*e.exit_code) : json::value(nullptr);
  o["signal"] = e.signal ? json::value(signal_name(*e.signal)) : json::value(nullptr);
  o["duration_ms"] = e.duration.count();
  o["timed_out"] = e.timed_out;
  o["truncated"] = e.stdout_truncated || e.stderr_truncated;
  o["phase"] = sandbox::to_string(result.phase);
  return json::serialize(o);
}

Result<json::object> piston_result(std::string_view result_json, bool compiled_language) {
  FIRERUN_TRY(auto r, parse_object(result_json));
  auto text = [&](const char* key) -> std::string {
    auto* v = r.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto stage = [&](bool ran) {
    json::object s;
    if (!ran) {
      s = {{"stdout", ""}, {"stderr", ""}, {"output", ""}, {"code", 0}, {"signal", nullptr}};
      return s;
    }
    s["stdout"] = text("stdout");
    s["stderr"] = text("stderr");
    // We capture the streams separately, so "output" is stdout then stderr
    // rather than Piston's interleaving.
    s["output"] = text("stdout") + text("stderr");
    s["code"] = r.contains("exit_code") ? r.at("exit_code") : json::value(nullptr);
    s["signal"] = r.contains("signal") ? r.at("signal") : json::value(nullptr);
    if (r.contains("timed_out") && r.at("timed_out").is_bool() && r.at("timed_out").as_bool() &&
        s["signal"].is_null()) {
      s["signal"] = "SIGKILL";  // Piston reports a killed-on-timeout run this way
      s["code"] = nullptr;
    }
    return s;
  };
  json::object out;
  out["language"] = text("language");
  out["version"] = text("version");
  const bool compile_failed = text("phase") == "compile";
  if (compiled_language) out["compile"] = stage(compile_failed);
  if (!compile_failed) out["run"] = stage(true);
  return out;
}

json::object job_json(const scheduler::JobRecord& rec) {
  json::object o;
  o["id"] = rec.job.id;
  o["status"] = scheduler::to_string(rec.status);
  o["attempts"] = rec.attempts;
  o["created_at_ms"] = rec.created_ms;
  o["started_at_ms"] = rec.started_ms ? json::value(*rec.started_ms) : json::value(nullptr);
  o["finished_at_ms"] = rec.finished_ms ? json::value(*rec.finished_ms) : json::value(nullptr);
  if (rec.status == scheduler::JobStatus::completed && !rec.result.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(rec.result, ec);
    o["result"] = ec ? json::value(nullptr) : std::move(v);
  }
  if (rec.error) {
    json::object error{{"code", errc_name(rec.error->errc())}, {"message", rec.error->what()}};
    // Whose failure: the guest's (the job's code brought its VM down; never
    // retried) or the host's (retried up to scheduler.max_attempts).
    const Errc e = rec.error->errc();
    if (rec.status == scheduler::JobStatus::failed && (e == Errc::guest_failed || e == Errc::backend_failed ||
                                                       e == Errc::io || e == Errc::internal || e == Errc::protocol))
      error["origin"] = e == Errc::guest_failed ? "guest" : "host";
    o["error"] = std::move(error);
  }
  return o;
}

std::string error_json(const Error& error) {
  json::object o{{"error", json::object{{"code", errc_name(error.errc())}, {"message", error.what()}}}};
  return json::serialize(o);
}

unsigned http_status_for(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return 200;
    case Errc::invalid_argument: return 400;
    case Errc::auth: return 401;
    case Errc::not_found: return 404;
    case Errc::already_exists:
    case Errc::bad_state:
    case Errc::cancelled: return 409;
    case Errc::limit_exceeded: return 429;
    case Errc::unsupported: return 501;
    case Errc::backend_failed:
    case Errc::guest_failed:
    case Errc::protocol: return 502;
    case Errc::timeout: return 504;
    case Errc::io:
    case Errc::internal: return 500;
  }
  return 500;
}

}  // namespace firerun::daemon
