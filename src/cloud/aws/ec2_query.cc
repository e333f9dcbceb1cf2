#include "cloud/aws/ec2_query.h"

#include "cloud/aws/sigv4.h"

namespace firerun::cloud::aws {

std::string query_key(std::string_view prefix, std::size_t index, std::string_view member) {
  std::string key(prefix);
  key += '.';
  key += std::to_string(index);
  if (!member.empty()) {
    key += '.';
    key += member;
  }
  return key;
}

QueryParams::QueryParams(std::string action, std::string version)
    : action_(std::move(action)), version_(std::move(version)) {}

const std::string* QueryParams::find(std::string_view key) const {
  for (const auto& [k, v] : params_)
    if (k == key) return &v;
  return nullptr;
}

QueryParams& QueryParams::set(std::string key, std::string value) {
  for (auto& [k, v] : params_) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  params_.emplace_back(std::move(key), std::move(value));
  return *this;
}

QueryParams& QueryParams::set_list(std::string_view prefix, const std::vector<std::string>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) set(query_key(prefix, i + 1), values[i]);
  return *this;
}

QueryParams& QueryParams::set_tags(std::string_view prefix, const std::map<std::string, std::string>& tags) {
  std::size_t i = 0;
  for (const auto& [k, v] : tags) {
    ++i;
    set(query_key(prefix, i, "Key"), k);
    set(query_key(prefix, i, "Value"), v);
  }
  return *this;
}

QueryParams& QueryParams::set_filters(const std::vector<Ec2Filter>& filters) {
  for (std::size_t i = 0; i < filters.size(); ++i) {
    set(query_key("Filter", i + 1, "Name"), filters[i].name);
    set_list(query_key("Filter", i + 1, "Value"), filters[i].values);
  }
  return *this;
}

std::string QueryParams::encode() const {
  std::string out = "Action=" + uri_encode(action_) + "&Version=" + uri_encode(version_);
  for (const auto& [k, v] : params_) {
    out += '&';
    out += uri_encode(k);
    out += '=';
    out += uri_encode(v);
  }
  return out;
}

}  // namespace firerun::cloud::aws
