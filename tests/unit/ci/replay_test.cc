// Replays every upstream example payload (iterating the conformance folders)
// through the registered providers, signed the way GitHub/GitLab would.
#include "ci/gitlab/gitlab_provider.h"
#include "ci_test_util.h"
#include "support/conformance.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace firerun::ci {
namespace {

namespace fs = std::filesystem;
using testing::github_headers;
using testing::gitlab_headers;
using testing::read_file;

std::vector<fs::path> payload_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".json" || e.path().extension() == ".jsonc"))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool asks_for_firerun(const boost::json::array& labels) {
  for (const auto& l : labels) {
    std::string s(l.as_string());
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "firerun" || s.starts_with("firerun/") || s.starts_with("firecracker-")) return true;
  }
  return false;
}

std::optional<std::uint64_t> optional_id(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->to_number<std::uint64_t>();
}

void expect_auth_failures(const CiProvider& provider, const Headers& good, std::string_view body,
                          std::string_view auth_header, const std::string& label) {
  auto without = good;
  without.erase(std::string(auth_header));
  auto r = provider.receive(without, body);
  ASSERT_FALSE(r) << label;
  EXPECT_EQ(r.error().errc(), Errc::auth) << label << ": " << r.error().what();

  std::string right = good.find(std::string(auth_header))->second;
  for (std::string bad : {std::string("sha256=") + std::string(64, '0'), right.substr(0, right.size() - 1),
                          right + "0", std::string("wrong"), std::string(""), right.substr(7)}) {
    auto headers = without;
    headers.emplace(std::string(auth_header), bad);
    auto res = provider.receive(headers, body);
    ASSERT_FALSE(res) << label << " with " << bad;
    EXPECT_EQ(res.error().errc(), Errc::auth) << label << ": " << res.error().what();
    EXPECT_EQ(res.error().what().find(testing::kTestSecret), std::string::npos);
  }
  // The same credential twice (proxy smuggling) is refused too.
  auto doubled = good;
  doubled.emplace(std::string(auth_header), right);
  auto d = provider.receive(doubled, body);
  ASSERT_FALSE(d) << label;
  EXPECT_EQ(d.error().errc(), Errc::auth);
  // A body altered after signing.
  auto t = provider.receive(good, std::string(body) + " ");
  if (auth_header == "X-Hub-Signature-256") {
    ASSERT_FALSE(t) << label;
    EXPECT_EQ(t.error().errc(), Errc::auth);
  }
}

TEST(Replay, EveryGitHubPayload) {
  FIRERUN_REQUIRE_CONFORMANCE("github/webhooks");
  auto provider = testing::make_provider("github");
  ASSERT_TRUE(provider);
  int replayed = 0, jobs = 0;
  for (const auto& file : payload_files(::firerun::testing::conformance_dir() / "github/webhooks")) {
    SCOPED_TRACE(file.string());
    const std::string event = file.parent_path().filename().string();
    const std::string body = read_file(file);
    auto doc = boost::json::parse(body).as_object();
    auto headers = github_headers(event, body);
    auto r = provider->receive(headers, body);
    ASSERT_TRUE(r) << r.error().what();
    ++replayed;
    expect_auth_failures(*provider, headers, body, "X-Hub-Signature-256", file.string());

    if (event == "ping") {
      auto* ping = std::get_if<Ping>(&*r);
      ASSERT_NE(ping, nullptr);
      EXPECT_EQ(ping->hook_id, doc.at("hook_id").to_number<std::uint64_t>());
      EXPECT_EQ(ping->zen, doc.at("zen").as_string());
      EXPECT_EQ(ping->app_id, optional_id(doc.at("hook").as_object(), "app_id"));
      EXPECT_EQ(ping->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    } else if (event == "workflow_job") {
      ++jobs;
      const auto& job = doc.at("workflow_job").as_object();
      if (!asks_for_firerun(job.at("labels").as_array())) {
        auto* ignored = std::get_if<Ignored>(&*r);
        ASSERT_NE(ignored, nullptr);
        EXPECT_NE(ignored->reason.find("do not ask for firerun"), std::string::npos) << ignored->reason;
      }
      // The same delivery for a job that asks for firerun.
      auto mutated = doc;
      mutated["workflow_job"].as_object()["labels"].as_array().emplace_back("firerun/cpu=4/ram=8");
      std::string mutated_body = boost::json::serialize(mutated);
      auto m = provider->receive(github_headers(event, mutated_body), mutated_body);
      ASSERT_TRUE(m) << m.error().what();
      auto* req = std::get_if<JobRequest>(&*m);
      ASSERT_NE(req, nullptr);
      EXPECT_EQ(req->provider, "github");
      EXPECT_EQ(req->instance, "github.com");
      EXPECT_EQ(job_phase_name(req->phase), doc.at("action").as_string());
      EXPECT_EQ(req->job_id, job.at("id").to_number<std::uint64_t>());
      EXPECT_EQ(req->run_id, job.at("run_id").to_number<std::uint64_t>());
      EXPECT_EQ(req->run_attempt, job.at("run_attempt").to_number<std::uint32_t>());
      EXPECT_EQ(req->job_name, job.at("name").as_string());
      EXPECT_EQ(req->repository, doc.at("repository").at("full_name").as_string());
      const auto* org = doc.if_contains("organization");
      EXPECT_EQ(req->owner, org ? org->at("login").as_string() : doc.at("repository").at("owner").at("login").as_string());
      const auto* inst = doc.if_contains("installation");
      EXPECT_EQ(req->installation_id, inst ? optional_id(inst->as_object(), "id") : std::nullopt);
      EXPECT_EQ(req->labels.size(), job.at("labels").as_array().size() + 1);
      ASSERT_TRUE(req->shape);
      EXPECT_EQ(req->shape->vcpus, 4u);
      EXPECT_EQ(req->shape->memory_gib, 8u);
      EXPECT_EQ(req->runner.has_value(), !job.at("runner_name").is_null());
      if (req->runner) {
        EXPECT_EQ(req->runner->name, job.at("runner_name").as_string());
      }
      if (req->phase == JobPhase::completed) {
        ASSERT_TRUE(req->conclusion);
        EXPECT_EQ(*req->conclusion, job.at("conclusion").as_string());
      }
    } else {
      auto* ignored = std::get_if<Ignored>(&*r);
      ASSERT_NE(ignored, nullptr);
      EXPECT_EQ(ignored->event, event);
      EXPECT_NE(ignored->reason.find("not used by firerun"), std::string::npos) << ignored->reason;
    }
  }
  EXPECT_GT(replayed, 0);
  EXPECT_GT(jobs, 0);
  std::cout << "[ replayed ] " << replayed << " GitHub payload files (" << jobs << " workflow_job)\n";
}

TEST(Replay, EveryGitLabPayload) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/webhooks");
  auto provider = testing::make_provider("gitlab");
  ASSERT_TRUE(provider);
  int replayed = 0;
  for (const auto& file : payload_files(::firerun::testing::conformance_dir() / "gitlab/webhooks")) {
    SCOPED_TRACE(file.string());
    const std::string body = read_file(file);
    // The test reads the docs' JSONC leniently to learn the event; firerun must not.
    boost::json::parse_options lenient;
    lenient.allow_comments = true;
    lenient.allow_trailing_commas = true;
    auto doc = boost::json::parse(body, {}, lenient).as_object();
    const std::string kind(doc.at("object_kind").as_string());
    const std::string event = kind == "build" ? "Job Hook" : kind == "pipeline" ? "Pipeline Hook" : kind + " Hook";
    auto headers = gitlab_headers(event);
    auto r = provider->receive(headers, body);
    ++replayed;
    expect_auth_failures(*provider, headers, body, "X-Gitlab-Token", file.string());

    if (file.extension() == ".jsonc") {
      ASSERT_FALSE(r) << "comments/trailing commas must be rejected";
      EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
      EXPECT_NE(r.error().what().find("not valid JSON"), std::string::npos) << r.error().what();
      continue;
    }
    ASSERT_TRUE(r) << r.error().what();
    if (kind == "build") {
      auto* req = std::get_if<JobRequest>(&*r);
      ASSERT_NE(req, nullptr);
      EXPECT_EQ(req->provider, "gitlab");
      EXPECT_EQ(req->delivery_id, "f6d0c7e4-4b5e-4f43-9d3b-1b2c3d4e5f60");
      EXPECT_EQ(req->instance, "https://gitlab.example.com");
      EXPECT_EQ(req->job_id, doc.at("build_id").to_number<std::uint64_t>());
      EXPECT_EQ(req->run_id, doc.at("pipeline_id").to_number<std::uint64_t>());
      EXPECT_EQ(req->job_name, doc.at("build_name").as_string());
      EXPECT_EQ(req->stage, doc.at("build_stage").as_string());
      EXPECT_EQ(req->status, doc.at("build_status").as_string());
      EXPECT_EQ(req->phase, gitlab::phase_of_status(req->status));
      EXPECT_EQ(req->repository_id, doc.at("project_id").to_number<std::uint64_t>());
      EXPECT_EQ(req->repository, doc.at("project").at("path_with_namespace").as_string());
      if (const auto* retries = doc.if_contains("retries_count")) {
        EXPECT_EQ(req->run_attempt, retries->to_number<std::uint32_t>() + 1);
      }
      EXPECT_FALSE(req->labels_known);  // job hooks carry no job tags
      EXPECT_FALSE(req->shape);
      EXPECT_EQ(req->runner.has_value(), !doc.at("runner").is_null());
      if (req->runner) {
        EXPECT_EQ(req->runner->id, doc.at("runner").at("id").to_number<std::uint64_t>());
      }
      // After the daemon looked the tags up:
      std::string reason;
      auto ours = resolve_labels(*req, {"linux", "firecracker-2cpu-4gb"}, provider->label_policy(), &reason);
      ASSERT_TRUE(ours);
      EXPECT_TRUE(*ours);
      EXPECT_EQ(req->shape->memory_gib, 4u);
    } else {
      auto* ignored = std::get_if<Ignored>(&*r);
      ASSERT_NE(ignored, nullptr);
      EXPECT_EQ(ignored->event, event);
      if (kind == "pipeline") {
        auto id = std::to_string(doc.at("object_attributes").at("id").to_number<std::uint64_t>());
        EXPECT_NE(ignored->reason.find("pipeline " + id), std::string::npos) << ignored->reason;
      }
    }
  }
  EXPECT_GT(replayed, 0);
  std::cout << "[ replayed ] " << replayed << " GitLab payload files\n";
}

}  // namespace
}  // namespace firerun::ci
