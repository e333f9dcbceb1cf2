// Test helpers for the EC2 tests: reading conformance files and running
// fake_ec2.py (a local EC2 Query endpoint that validates requests against
// ec2-subset.json) as a child process we own.
#pragma once

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/http_client.h"
#include "support/conformance.h"

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
  FakeEc2() {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const std::string dir = aws_conformance().string();
    const char* argv[] = {"python3", FIRERUN_FAKE_EC2_SCRIPT, dir.c_str(), nullptr};
    if (posix_spawnp(&pid_, "python3", &actions, nullptr, const_cast<char**>(argv), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    FILE* out = ::fdopen(fds[0], "r");
    int port = 0;
    if (out && std::fscanf(out, "PORT %d", &port) == 1) endpoint_ = "http://127.0.0.1:" + std::to_string(port);
    if (out) std::fclose(out);
  }
  ~FakeEc2() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
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
  pid_t pid_ = -1;
  std::string endpoint_;
};

}  // namespace firerun::testing
