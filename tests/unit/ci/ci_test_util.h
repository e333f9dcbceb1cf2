// Helpers shared by the CI tests: signing deliveries independently of the
// code under test (plain OpenSSL HMAC) and reading conformance files.
#pragma once

#include "firerun/ci.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace firerun::ci::testing {

inline constexpr const char* kTestSecret = "firerun-test-secret-\x01\xff";

inline std::string github_signature(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline Headers github_headers(std::string_view event, std::string_view body, std::string_view secret = kTestSecret) {
  return {{"X-GitHub-Event", std::string(event)},
          {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
          {"Content-Type", "application/json"},
          {"X-Hub-Signature-256", github_signature(secret, body)}};
}

inline Headers gitlab_headers(std::string_view event, std::string_view token = kTestSecret) {
  return {{"X-Gitlab-Event", std::string(event)},
          {"X-Gitlab-Token", std::string(token)},
          {"Idempotency-Key", "f6d0c7e4-4b5e-4f43-9d3b-1b2c3d4e5f60"},
          {"X-Gitlab-Instance", "https://gitlab.example.com"},
          {"Content-Type", "application/json"}};
}

inline std::unique_ptr<CiProvider> make_provider(std::string_view name, std::string secret = kTestSecret,
                                                 LabelPolicy policy = {}) {
  CiProviderRegistry registry;
  EXPECT_TRUE(register_builtin_ci_providers(registry));
  auto factory = registry.find(name);
  EXPECT_TRUE(factory) << name;
  CiProviderConfig config;
  config.secret = std::move(secret);
  config.labels = std::move(policy);
  auto provider = (*factory)->create(config);
  EXPECT_TRUE(provider) << (provider ? "" : provider.error().what());
  return provider ? std::move(*provider) : nullptr;
}

}  // namespace firerun::ci::testing
