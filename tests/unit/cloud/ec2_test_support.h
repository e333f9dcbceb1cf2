// Test helpers for the EC2 tests: reading conformance files and running
// fake_ec2.py (a local EC2 Query endpoint that validates requests against
// ec2-subset.json) as a child process we own.
#pragma once

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/http_client.h"
#include "support/conformance.h"
#include "support/script_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace firerun::testing {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::filesystem::path aws_conformance() { return conformance_dir() / "aws"; }

constexpr const char* kTestAccessKey = "AKIDFAKEEC2TEST0001";
constexpr const char* kTestSecret = "fake-ec2-secret-key-0001";

inline std::shared_ptr<cloud::aws::CredentialsProvider> test_credentials() {
  return std::make_shared<cloud::aws::EnvironmentCredentialsProvider>(
      [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_ACCESS_KEY_ID") return kTestAccessKey;
        if (name == "AWS_SECRET_ACCESS_KEY") return kTestSecret;
        return std::nullopt;
      });
}

class FakeEc2 {
 public:
  FakeEc2() : server_({"python3", FIRERUN_FAKE_EC2_SCRIPT, aws_conformance().string()}), endpoint_(server_.endpoint()) {}
  FakeEc2(const FakeEc2&) = delete;
  FakeEc2& operator=(const FakeEc2&) = delete;

  const std::string& endpoint() const { return endpoint_; }

  void control(const boost::json::object& update) const {
    cloud::aws::HttpRequest r;
    r.method = "POST";
    r.path = "/_control";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = boost::json::serialize(update);
    auto resp = cloud::aws::http_send(endpoint_, r);
    ASSERT_TRUE(resp && resp->status == 200);
  }
  boost::json::value get(const char* path) const {
    cloud::aws::HttpRequest r;
    r.method = "GET";
    r.path = path;
    auto resp = cloud::aws::http_send(endpoint_, r);
    if (!resp) return nullptr;
    return boost::json::parse(resp->body);
  }
  /// Requests the fake accepted (action + params), oldest first.
  boost::json::array requests() const { return get("/_requests").as_array(); }
  /// Runs only the model check on a raw form body; "" when accepted, else "<Code>: <message>".
  std::string validate(const std::string& form) const {
    cloud::aws::HttpRequest r;
    r.method = "POST";
    r.path = "/_validate";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    r.body = form;
    auto resp = cloud::aws::http_send(endpoint_, r);
    if (!resp) return "transport error";
    return resp->status == 200 ? "" : resp->body;
  }

 private:
  ::firerun::testing::ScriptServer server_;
  std::string endpoint_;
};

}  // namespace firerun::testing
