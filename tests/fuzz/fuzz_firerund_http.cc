// The daemon's request-line and address parsers with hostile input: the route
// table (targets of any shape), listen addresses, the jail's CIDR parser and
// resolv.conf reader, and the text helpers guest output goes through.
#include "config.h"
#include "jail/network.h"
#include "router.h"

#include "firerun/text.h"

#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  using boost::beast::http::verb;
  firerun::daemon::Router<int> router;
  router.add(verb::get, "/v1/jobs/{id}", 1);
  router.add(verb::delete_, "/v1/jobs/{id}", 2);
  router.add(verb::post, "/webhooks/{provider}", 3);
  router.add(verb::get, "/healthz", 4);
  for (verb method : {verb::get, verb::post, verb::delete_, verb::put}) {
    auto match = router.match(method, input);
    // A placeholder never matches an empty segment or one with a slash.
    for (const auto& [name, value] : match.params)
      if (value.empty() || value.find('/') != std::string::npos) std::abort();
    if (match.handler && !match.allowed.empty()) std::abort();
  }
  (void)firerun::daemon::is_loopback_listen(input);
  if (auto net = firerun::jail::parse_ipv4_net(input); net && net->prefix > 32) std::abort();
  (void)firerun::jail::resolvers_from(input);
  const std::string text = firerun::to_valid_utf8(input);
  if (!firerun::is_valid_utf8(text)) std::abort();
  if (firerun::is_valid_utf8(input) && text != input) std::abort();
  auto decoded = firerun::base64_decode(firerun::base64_encode(input));
  if (!decoded || *decoded != input) std::abort();
  (void)firerun::base64_decode(input);
  return 0;
}
