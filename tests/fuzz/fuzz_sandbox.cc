// Fuzzes the sandbox's input handling: the language-table YAML parser, and
// request validation with fuzzed language names, file names, env and args.
#include "firerun/sandbox.h"
#include "sandbox/language_table.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto table = firerun::sandbox::detail::parse_languages(text, "fuzz"); table) {
    for (const auto& lang : *table)
      if (lang.name.empty() || lang.run_argv.empty() || lang.source_file.empty()) std::abort();
  }
  // The same bytes as a request: NUL-separated fields.
  firerun::sandbox::CodeRequest request;
  std::size_t field = 0;
  for (std::size_t start = 0; start <= text.size() && field < 8; ++field) {
    auto end = text.find('\0', start);
    if (end == std::string_view::npos) end = text.size();
    std::string part(text.substr(start, end - start));
    switch (field) {
      case 0: request.language = part; break;
      case 1: request.code = part; break;
      case 2: request.files.push_back({part, "x"}); break;
      case 3: request.files.push_back({part, ""}); break;
      case 4: request.env[part] = "v"; break;
      case 5: request.args.push_back(part); break;
      case 6: request.timeout = std::chrono::milliseconds(static_cast<long>(part.size()) - 3); break;
      case 7: request.output_cap = part.size(); break;
    }
    start = end + 1;
  }
  auto status = firerun::sandbox::validate(request);
  if (!status && status.error().errc() != firerun::Errc::invalid_argument) std::abort();
  return 0;
}
