#include "ci/json_fields.h"

#include <boost/json/parse.hpp>

#include <cmath>

namespace firerun::ci {
namespace {

const char* kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "number";
    case boost::json::kind::string: return "string";
    case boost::json::kind::array: return "array";
    case boost::json::kind::object: return "object";
  }
  return "value";
}

Error wrong_type(const std::string& field, const char* want, const boost::json::value& got) {
  return Error(Errc::invalid_argument, "field '" + field + "' must be " + want + ", got " + kind_name(got));
}

Result<std::uint64_t> to_uint(const boost::json::value& v, const std::string& field) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64()) {
    if (v.get_int64() < 0) return make_error(Errc::invalid_argument, "field '" + field + "' must not be negative");
    return static_cast<std::uint64_t>(v.get_int64());
  }
  if (v.is_double()) {
    double d = v.get_double();
    // Some schemas type ids as "number"; accept only exact, in-range integers.
    if (!(d >= 0) || d >= 18446744073709551616.0 || std::floor(d) != d)
      return make_error(Errc::invalid_argument, "field '" + field + "' must be a non-negative integer");
    return static_cast<std::uint64_t>(d);
  }
  return wrong_type(field, "a non-negative integer", v);
}

}  // namespace

Result<boost::json::value> parse_json_body(std::string_view body) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec, {}, options);
  if (ec) return make_error(Errc::invalid_argument, "body is not valid JSON: " + ec.message());
  return value;
}

JsonObject::JsonObject(const boost::json::object& object, std::string path)
    : object_(&object), path_(std::move(path)) {}

Result<JsonObject> JsonObject::root(const boost::json::value& document) {
  if (!document.is_object()) return wrong_type("(root)", "an object", document);
  return JsonObject(document.get_object(), "");
}

std::string JsonObject::field(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool JsonObject::has(std::string_view key) const { return object_->contains(key); }

Result<const boost::json::value*> JsonObject::required(std::string_view key) const {
  const auto* v = object_->if_contains(key);
  if (!v) return make_error(Errc::invalid_argument, "required field '" + field(key) + "' is missing");
  return v;
}

const boost::json::value* JsonObject::present(std::string_view key) const {
  const auto* v = object_->if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

Result<std::string> JsonObject::string(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  if (!v->is_string()) return wrong_type(field(key), "a string", *v);
  return std::string(v->get_string());
}

Result<std::optional<std::string>> JsonObject::optional_string(std::string_view key) const {
  const auto* v = present(key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return wrong_type(field(key), "a string or null", *v);
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::uint64_t> JsonObject::uint(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  return to_uint(*v, field(key));
}

Result<std::optional<std::uint64_t>> JsonObject::optional_uint(std::string_view key) const {
  const auto* v = present(key);
  if (!v) return std::optional<std::uint64_t>{};
  FIRERUN_TRY(auto n, to_uint(*v, field(key)));
  return std::optional<std::uint64_t>(n);
}

Result<JsonObject> JsonObject::object(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  if (!v->is_object()) return wrong_type(field(key), "an object", *v);
  return JsonObject(v->get_object(), field(key));
}

Result<std::optional<JsonObject>> JsonObject::optional_object(std::string_view key) const {
  const auto* v = present(key);
  if (!v) return std::optional<JsonObject>{};
  if (!v->is_object()) return wrong_type(field(key), "an object or null", *v);
  return std::optional<JsonObject>(JsonObject(v->get_object(), field(key)));
}

Result<std::vector<std::string>> JsonObject::string_array(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  if (!v->is_array()) return wrong_type(field(key), "an array of strings", *v);
  std::vector<std::string> out;
  const auto& array = v->get_array();
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_string()) return wrong_type(field(key) + "[" + std::to_string(i) + "]", "a string", array[i]);
    out.emplace_back(array[i].get_string());
  }
  return out;
}

Result<bool> JsonObject::boolean(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  if (!v->is_bool()) return wrong_type(field(key), "a boolean", *v);
  return v->get_bool();
}

Result<std::optional<bool>> JsonObject::optional_bool(std::string_view key) const {
  const auto* v = present(key);
  if (!v) return std::optional<bool>{};
  if (!v->is_bool()) return wrong_type(field(key), "a boolean or null", *v);
  return std::optional<bool>(v->get_bool());
}

Result<std::vector<JsonObject>> JsonObject::object_array(std::string_view key) const {
  FIRERUN_TRY(const auto* v, required(key));
  if (!v->is_array()) return wrong_type(field(key), "an array of objects", *v);
  std::vector<JsonObject> out;
  const auto& array = v->get_array();
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string element = field(key) + "[" + std::to_string(i) + "]";
    if (!array[i].is_object()) return wrong_type(element, "an object", array[i]);
    out.emplace_back(array[i].get_object(), std::move(element));
  }
  return out;
}

}  // namespace firerun::ci
