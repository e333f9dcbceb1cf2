// Splits the input into path / query / header lines and signs it both ways.
#include "cloud/aws/sigv4.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace firerun::cloud::aws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto take_line = [&text]() {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    return std::string(line);
  };
  HttpRequest req;
  req.method = "GET";
  req.path = take_line();
  req.query = take_line();
  req.headers.push_back({"Host", "example.amazonaws.com"});
  while (!text.empty()) {
    std::string line = take_line();
    auto colon = line.find(':');
    req.headers.push_back({line.substr(0, colon), colon == std::string::npos ? "" : line.substr(colon + 1)});
  }
  Credentials creds{"AKIDEXAMPLE", SecretString("secret"), SecretString("token"), std::nullopt, "fuzz"};
  const auto now = std::chrono::sys_days{std::chrono::year{2015} / 8 / 30};
  (void)sign(req, creds, {"us-east-1", "service"}, now);
  (void)sign(req, creds, SigningConfig::for_s3("us-east-1"), now);
  (void)presign(req, creds, SigningConfig::for_s3("us-east-1"), now, std::chrono::seconds(60));
  (void)normalize_path(req.path);
  return 0;
}
