// EC2 XML responses: parse_xml() and every typed parser on arbitrary bytes.
// Anything but a protocol error from a parser is a bug.
#include "cloud/aws/ec2_xml.h"

#include <cstdlib>

using namespace firerun::cloud::aws;

namespace {
template <class R>
void expect_value_or_protocol(const R& r) {
  if (!r && r.error() != firerun::Errc::protocol) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  expect_value_or_protocol(parse_xml(body, "fuzz"));
  expect_value_or_protocol(parse_run_instances(body));
  expect_value_or_protocol(parse_describe_instances(body));
  expect_value_or_protocol(parse_terminate_instances(body));
  expect_value_or_protocol(parse_create_tags(body));
  expect_value_or_protocol(parse_create_fleet(body));
  expect_value_or_protocol(parse_describe_instance_types(body));
  auto e = parse_ec2_error_response(body, 400);
  if (e && e->kind != classify_ec2_error(e->code)) std::abort();
  return 0;
}
