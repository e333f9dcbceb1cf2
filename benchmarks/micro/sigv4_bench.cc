// SigV4: a full header-auth signature against its cryptographic floor (the
// two SHA-256 and five HMAC-SHA256 every signature needs, via raw OpenSSL),
// so the ratio is what canonicalisation and string building cost on top.
#include "cloud/aws/sigv4.h"

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace {
using namespace firerun::cloud::aws;

const auto kTime = std::chrono::sys_days{std::chrono::year{2024} / 5 / 17} + std::chrono::hours{9};

Credentials credentials() {
  return {"AKIDEXAMPLE", SecretString("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), SecretString(), std::nullopt, "bench"};
}

// An EC2 RunInstances-style POST, the request firerun's provisioner signs most.
HttpRequest ec2_request() {
  HttpRequest r;
  r.method = "POST";
  r.path = "/";
  r.headers = {{"Host", "ec2.eu-west-1.amazonaws.com"},
               {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  r.body = "Action=RunInstances&ImageId=ami-0abcdef1234567890&InstanceType=c7i.metal-24xl&MinCount=1&MaxCount=1"
           "&Version=2016-11-15";
  return r;
}

void sign_firerun(benchmark::State& state) {
  const HttpRequest request = ec2_request();
  const Credentials creds = credentials();
  const SigningConfig config{"eu-west-1", "ec2"};
  for (auto _ : state) {
    auto signed_request = sign(request, creds, config, kTime);
    if (!signed_request) state.SkipWithError("signing failed");
    benchmark::DoNotOptimize(signed_request);
  }
}

void sha256_raw(std::string_view data, unsigned char* out) {
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
}

void hmac_raw(const unsigned char* key, std::size_t key_len, std::string_view data, unsigned char* out) {
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(key_len), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out, &len);
}

void sign_baseline(benchmark::State& state) {
  const HttpRequest request = ec2_request();
  // The same canonical request and string to sign firerun produces, hashed and MACed raw.
  auto reference = sign(request, credentials(), {"eu-west-1", "ec2"}, kTime);
  if (!reference) return state.SkipWithError("signing failed");
  const std::string secret = "AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const std::string canonical = reference->canonical_request, to_sign = reference->string_to_sign;
  for (auto _ : state) {
    unsigned char body_hash[32], request_hash[32], k[32];
    sha256_raw(request.body, body_hash);
    sha256_raw(canonical, request_hash);
    hmac_raw(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), "20240517", k);
    hmac_raw(k, 32, "eu-west-1", k);
    hmac_raw(k, 32, "ec2", k);
    hmac_raw(k, 32, "aws4_request", k);
    hmac_raw(k, 32, to_sign, k);
    benchmark::DoNotOptimize(body_hash);
    benchmark::DoNotOptimize(request_hash);
    benchmark::DoNotOptimize(k);
  }
}

void presign_s3(benchmark::State& state) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/artifacts/run-42/logs.tar.zst";
  request.headers = {{"Host", "firerun-cache.s3.eu-west-1.amazonaws.com"}};
  const Credentials creds = credentials();
  const SigningConfig config = SigningConfig::for_s3("eu-west-1");
  for (auto _ : state) {
    auto url = presign(request, creds, config, kTime, std::chrono::hours(1));
    if (!url) state.SkipWithError("presigning failed");
    benchmark::DoNotOptimize(url);
  }
}

BENCHMARK(sign_firerun)->Name("aws/sigv4_sign/firerun");
BENCHMARK(sign_baseline)->Name("aws/sigv4_sign/baseline");
BENCHMARK(presign_s3)->Name("aws/sigv4_presign_s3");

}  // namespace
