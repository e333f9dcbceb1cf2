// Test helpers for the CI API clients: contract_server.py (a local GitHub or
// GitLab API that enforces the documented subset) as a child process we own,
// a fresh RSA key pair for GitHub App JWTs, and an spdlog capture sink.
#pragma once

#include "core/http_client.h"
#include "support/conformance.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace firerun::ci::testing {

/// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "firerun-ci-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) ? templ : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A 2048-bit RSA key pair as PEM (private: PKCS#8, public: SubjectPublicKeyInfo).
struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};

inline RsaKeyPair make_rsa_key() {
  RsaKeyPair out;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
  EXPECT_TRUE(key);
  auto to_pem = [&](bool priv) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (priv) PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    else PEM_write_bio_PUBKEY(bio.get(), key.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  out.private_pem = to_pem(true);
  out.public_pem = to_pem(false);
  return out;
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

/// contract_server.py running as our child; endpoint() is "http://127.0.0.1:<port>".
class ContractServer {
 public:
  explicit ContractServer(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> all = {"python3", FIRERUN_CI_CONTRACT_SERVER};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    FILE* out = ::fdopen(fds[0], "r");
    int port = 0;
    if (out && std::fscanf(out, "PORT %d", &port) == 1) endpoint_ = "http://127.0.0.1:" + std::to_string(port);
    if (out) std::fclose(out);
  }
  ~ContractServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ContractServer(const ContractServer&) = delete;
  ContractServer& operator=(const ContractServer&) = delete;

  bool running() const { return !endpoint_.empty(); }
  const std::string& endpoint() const { return endpoint_; }

  void control(const boost::json::object& update) const {
    http::Request r;
    r.method = "POST";
    r.path = "/_control";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = boost::json::serialize(update);
    auto resp = http::send(endpoint_, r);
    ASSERT_TRUE(resp && resp->status == 200);
  }
  boost::json::value get(const char* path) const {
    http::Request r;
    r.method = "GET";
    r.path = path;
    auto resp = http::send(endpoint_, r);
    if (!resp) return nullptr;
    return boost::json::parse(resp->body);
  }
  /// Every API request the server saw (accepted or rejected), oldest first.
  boost::json::array requests() const { return get("/_requests").as_array(); }
  boost::json::object state() const { return get("/_state").as_object(); }

  /// Sends a raw request (for contract checks that bypass the clients).
  http::Response raw(const http::Request& r) const {
    auto resp = http::send(endpoint_, r);
    EXPECT_TRUE(resp) << (resp ? "" : resp.error().what());
    return resp ? *resp : http::Response{};
  }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
};

/// Captures everything spdlog's default logger writes (at trace level) while alive.
class LogCapture {
 public:
  LogCapture() {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace firerun::ci::testing
