// CI webhooks: X-Hub-Signature-256 verification against raw OpenSSL HMAC of
// the same body, and label -> VM shape parsing (no meaningful baseline).
#include "ci/webhook_auth.h"
#include "firerun/ci.h"

#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace {
using namespace firerun;
using namespace firerun::ci;

const std::string kSecret = "bench-webhook-secret";

std::string body_of(std::int64_t size) {
  std::string body = R"({"action":"queued","workflow_job":{"labels":["firerun/cpu=2"]},"pad":")";
  body.resize(static_cast<std::size_t>(size) - 2, 'p');
  return body + "\"}";
}

std::string raw_hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string hub_signature(std::string_view body) {
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned char c : raw_hmac(kSecret, body)) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

void hmac_verify_firerun(benchmark::State& state) {
  const std::string body = body_of(state.range(0));
  const std::string header = hub_signature(body);
  for (auto _ : state) {
    auto status = verify_hub_signature_256(header, kSecret, body);
    if (!status) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(status);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// Baseline: raw OpenSSL HMAC of the body plus a constant-time compare with the expected MAC.
void hmac_verify_baseline(benchmark::State& state) {
  const std::string body = body_of(state.range(0));
  const std::string expected = raw_hmac(kSecret, body);
  for (auto _ : state) {
    std::string mac = raw_hmac(kSecret, body);
    int diff = CRYPTO_memcmp(mac.data(), expected.data(), expected.size());
    benchmark::DoNotOptimize(diff);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// The whole provider path a webhook endpoint calls (header lookup + verify).
void provider_verify(benchmark::State& state) {
  CiProviderRegistry registry;
  if (!register_builtin_ci_providers(registry)) return state.SkipWithError("no providers");
  auto factory = registry.find("github");
  if (!factory) return state.SkipWithError("no github provider");
  CiProviderConfig config;
  config.secret = kSecret;
  auto provider = (*factory)->create(config);
  if (!provider) return state.SkipWithError("cannot create provider");
  const std::string body = body_of(state.range(0));
  const Headers headers{{"X-GitHub-Event", "workflow_job"},
                        {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
                        {"Content-Type", "application/json"},
                        {"X-Hub-Signature-256", hub_signature(body)}};
  for (auto _ : state) {
    auto status = (*provider)->verify(headers, body);
    if (!status) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(status);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void labels_to_shape(benchmark::State& state, std::vector<std::string> labels) {
  LabelPolicy policy;
  for (auto _ : state) {
    auto shape = shape_from_labels(labels, policy);
    if (!shape) state.SkipWithError("label parsing failed");
    benchmark::DoNotOptimize(shape);
  }
}

BENCHMARK(hmac_verify_firerun)->Name("ci/hmac_verify/firerun")->Arg(1024)->Arg(65536);
BENCHMARK(hmac_verify_baseline)->Name("ci/hmac_verify/baseline")->Arg(1024)->Arg(65536);
BENCHMARK(provider_verify)->Name("ci/github_provider_verify")->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(labels_to_shape, path_form, std::vector<std::string>{"self-hosted", "firerun/cpu=4/ram=8/image=ubuntu"})
    ->Name("ci/labels/path_form");
BENCHMARK_CAPTURE(labels_to_shape, compact_form, std::vector<std::string>{"self-hosted", "firecracker-2cpu-4gb"})
    ->Name("ci/labels/compact_form");
BENCHMARK_CAPTURE(labels_to_shape, not_for_firerun,
                  std::vector<std::string>{"self-hosted", "linux", "x64", "gpu", "ubuntu-22.04", "large"})
    ->Name("ci/labels/not_for_firerun");

}  // namespace
