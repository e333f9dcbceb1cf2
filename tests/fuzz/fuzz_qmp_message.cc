// libFuzzer target for the QMP message parser (vm/qemu/qmp_message.h): every
// input line must parse or fail with Errc::protocol, never crash; whatever
// parses must be internally consistent.
#include "vm/qemu/qmp_message.h"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check_line(std::string_view line) {
  auto parsed = firerun::qemu::parse_qmp_message(line);
  if (!parsed) {
    if (parsed.error().errc() != firerun::Errc::protocol) std::abort();
    return;
  }
  if (auto* event = std::get_if<firerun::qemu::QmpEvent>(&*parsed)) {
    // The event name round-trips into a command line that is valid single-line JSON.
    auto formatted = firerun::qemu::format_qmp_command(event->name.empty() ? "x" : event->name, event->data, 1);
    if (!formatted || formatted->find('\n') != std::string::npos) std::abort();
    boost::system::error_code ec;
    auto reparsed = boost::json::parse(*formatted, ec);
    if (ec || !reparsed.is_object()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_line(input);
  // As the client's reader sees a stream: one message per line.
  std::size_t start = 0;
  while (start < input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    if (end > start) check_line(input.substr(start, end - start));
    start = end + 1;
  }
  return 0;
}
