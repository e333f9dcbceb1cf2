// Checks that every field firerun requires is required (or at least present)
// in the upstream JSON Schemas, so a valid delivery is never rejected.
#include "ci/github/github_provider.h"
#include "ci/gitlab/gitlab_provider.h"
#include "ci_test_util.h"
#include "support/conformance.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace firerun::ci {
namespace {

namespace fs = std::filesystem;

// The merged view of a schema node: required keys and the schemas of its properties.
struct Node {
  std::set<std::string> required;
  std::map<std::string, std::vector<std::pair<boost::json::value, fs::path>>> properties;
};

void collect(const boost::json::value& schema, const fs::path& file, const fs::path& root, Node& node, int depth = 0) {
  ASSERT_LT(depth, 16) << "$ref loop";
  if (!schema.is_object()) return;
  const auto& o = schema.as_object();
  if (const auto* ref = o.if_contains("$ref")) {
    // Refs resolve against the schema root; some are relative to the referring file.
    fs::path target = root / std::string(ref->as_string());
    if (!fs::exists(target)) target = file.parent_path() / std::string(ref->as_string());
    ASSERT_TRUE(fs::exists(target)) << ref->as_string();
    collect(boost::json::parse(testing::read_file(target)), target, root, node, depth + 1);
  }
  for (const char* combinator : {"allOf", "anyOf", "oneOf"})
    if (const auto* all = o.if_contains(combinator))
      for (const auto& s : all->as_array()) collect(s, file, root, node, depth + 1);
  if (const auto* req = o.if_contains("required"))
    for (const auto& k : req->as_array()) node.required.insert(std::string(k.as_string()));
  if (const auto* props = o.if_contains("properties"))
    for (const auto& [k, v] : props->as_object()) node.properties[std::string(k)].emplace_back(v, file);
}

// True if every segment of `path` ("a.b.c") is required along the schema.
void expect_required(const fs::path& schema_file, const fs::path& root, std::string_view path) {
  Node node;
  collect(boost::json::parse(testing::read_file(schema_file)), schema_file, root, node);
  std::string walked;
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string key(path.substr(0, dot));
    walked += (walked.empty() ? "" : ".") + key;
    EXPECT_TRUE(node.required.count(key)) << walked << " is not required by " << schema_file;
    auto it = node.properties.find(key);
    ASSERT_NE(it, node.properties.end()) << walked << " is not described by " << schema_file;
    Node next;
    for (const auto& [s, f] : it->second) collect(s, f, root, next);
    node = std::move(next);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
}

TEST(Schemas, GitHubWorkflowJobRequiredFieldsAreRequiredUpstream) {
  FIRERUN_REQUIRE_CONFORMANCE("github/webhook-schemas");
  auto root = ::firerun::testing::conformance_dir() / "github/webhook-schemas";
  int checked = 0;
  for (const auto& e : fs::directory_iterator(root / "workflow_job")) {
    SCOPED_TRACE(e.path().string());
    for (auto field : github::required_workflow_job_fields()) expect_required(e.path(), root, field);
    ++checked;
  }
  EXPECT_GE(checked, 4);
  for (auto field : github::required_ping_fields()) expect_required(root / "ping/event.schema.json", root, field);
}

TEST(Schemas, GitLabJobHookRequiredFieldsArePresentInTheDocsExample) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/webhooks/job-hook.json");
  auto doc = boost::json::parse(testing::read_file(::firerun::testing::conformance_dir() / "gitlab/webhooks/job-hook.json"));
  for (auto field : gitlab::required_job_hook_fields())
    EXPECT_TRUE(doc.as_object().contains(field)) << field;
}

}  // namespace
}  // namespace firerun::ci
