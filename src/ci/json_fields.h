// Typed, path-aware access to webhook JSON: every failure names the field
// ("field 'workflow_job.labels[2]' must be a string, got number").
#pragma once

#include "firerun/error.h"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci {

/// Parses a strict JSON document (no comments, valid UTF-8, bounded depth).
Result<boost::json::value> parse_json_body(std::string_view body);

/// A view of one JSON object plus its path from the document root. The
/// document must outlive the view.
class JsonObject {
 public:
  JsonObject(const boost::json::object& object, std::string path);
  /// Requires the document root to be an object.
  static Result<JsonObject> root(const boost::json::value& document);

  const std::string& path() const noexcept { return path_; }
  bool has(std::string_view key) const;

  Result<std::string> string(std::string_view key) const;
  /// Absent or null -> nullopt.
  Result<std::optional<std::string>> optional_string(std::string_view key) const;
  /// A non-negative integer (integral JSON numbers like 5.0 are accepted).
  Result<std::uint64_t> uint(std::string_view key) const;
  Result<std::optional<std::uint64_t>> optional_uint(std::string_view key) const;
  Result<JsonObject> object(std::string_view key) const;
  Result<std::optional<JsonObject>> optional_object(std::string_view key) const;
  Result<std::vector<std::string>> string_array(std::string_view key) const;
  Result<bool> boolean(std::string_view key) const;
  /// Absent or null -> nullopt.
  Result<std::optional<bool>> optional_bool(std::string_view key) const;
  /// An array whose elements are all objects (paths "key[i]").
  Result<std::vector<JsonObject>> object_array(std::string_view key) const;

 private:
  std::string field(std::string_view key) const;
  Result<const boost::json::value*> required(std::string_view key) const;
  const boost::json::value* present(std::string_view key) const;  // nullptr when absent or null

  const boost::json::object* object_;
  std::string path_;
};

}  // namespace firerun::ci
