// Test helpers for the CI API clients: contract_server.py (a local GitHub or
// GitLab API that enforces the documented subset) as a child process we own,
// a fresh RSA key pair for GitHub App JWTs, and an spdlog capture sink.
#pragma once

#include "core/http_client.h"
#include "support/conformance.h"
#include "support/script_server.h"
#include "support/test_host.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

/// contract_server.py running as our child; endpoint() is "http://127.0.0.1:<port>",
/// or the test host's address when it runs on one (reachable from guests whose
/// egress policy allows that address).
class ContractServer {
 public:
  explicit ContractServer(const std::vector<std::string>& args, const firerun::testing::TestHost* on = nullptr)
      : server_(script_argv(args, on), on ? on->ip() : "127.0.0.1") {}

  bool running() const { return !endpoint().empty(); }
  const std::string& endpoint() const { return server_.endpoint(); }

  void control(const boost::json::object& update) const {
    http::Request r;
    r.method = "POST";
    r.path = "/_control";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = boost::json::serialize(update);
    auto resp = http::send(endpoint(), r);
    ASSERT_TRUE(resp && resp->status == 200);
  }
  boost::json::value get(const char* path) const {
    http::Request r;
    r.method = "GET";
    r.path = path;
    auto resp = http::send(endpoint(), r);
    if (!resp) return nullptr;
    return boost::json::parse(resp->body);
  }
  /// Every API request the server saw (accepted or rejected), oldest first.
  boost::json::array requests() const { return get("/_requests").as_array(); }
  boost::json::object state() const { return get("/_state").as_object(); }

  /// Sends a raw request (for contract checks that bypass the clients).
  http::Response raw(const http::Request& r) const {
    auto resp = http::send(endpoint(), r);
    EXPECT_TRUE(resp) << (resp ? "" : resp.error().what());
    return resp ? *resp : http::Response{};
  }

 private:
  static std::vector<std::string> script_argv(const std::vector<std::string>& args,
                                              const firerun::testing::TestHost* on) {
    std::vector<std::string> argv;
    if (on) {
      argv = on->exec_argv();
      argv.insert(argv.end(), {"env", "FIRERUN_TEST_BIND=" + on->ip()});
    }
    argv.insert(argv.end(), {"python3", FIRERUN_CI_CONTRACT_SERVER});
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  firerun::testing::ScriptServer server_;
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
