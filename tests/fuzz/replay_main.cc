// Runs a libFuzzer target without libFuzzer, in the normal test run: every
// file of the given corpus directories, then deterministic mutations of each
// (byte flips, truncations, splices, insertions), so CI exercises each parser
// beyond its seeds with whatever compiler and sanitizers the build uses. A
// crash, a sanitizer report or an abort() in the target fails the test.
//   fuzz_x_replay <corpus dir>... [--mutations N]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

struct Rng {  // xorshift64*: the same mutations on every run
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ull;
  }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

const std::string* current_input = nullptr;
char crash_path[128];

/// On a crash, the input that caused it is saved so it can be added to the
/// corpus (or replayed under a debugger) as it is.
extern "C" void save_crashing_input(int signal) {
  if (current_input) {
    const int fd = ::open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      (void)!::write(fd, current_input->data(), current_input->size());
      ::close(fd);
      static const char note[] = "fuzz replay: the crashing input is saved in ";
      (void)!::write(STDERR_FILENO, note, sizeof note - 1);
      (void)!::write(STDERR_FILENO, crash_path, std::strlen(crash_path));
      (void)!::write(STDERR_FILENO, "\n", 1);
    }
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void run(const std::string& input) {
  current_input = &input;
  // A private copy of exactly `size` bytes, so ASan sees reads past the end.
  std::vector<std::uint8_t> bytes(input.begin(), input.end());
  LLVMFuzzerTestOneInput(bytes.empty() ? nullptr : bytes.data(), bytes.size());
  current_input = nullptr;
}

std::string mutate(const std::string& seed, const std::vector<std::string>& all, Rng& rng) {
  std::string out = seed;
  const int steps = 1 + static_cast<int>(rng.below(4));
  for (int s = 0; s < steps; ++s) {
    switch (rng.below(6)) {
      case 0:  // flip a byte
        if (!out.empty()) out[rng.below(out.size())] ^= static_cast<char>(1u << rng.below(8));
        break;
      case 1:  // truncate
        out.resize(rng.below(out.size() + 1));
        break;
      case 2: {  // splice in a piece of another input
        const std::string& other = all[rng.below(all.size())];
        const std::size_t from = rng.below(other.size() + 1), len = rng.below(other.size() - from + 1);
        out.insert(rng.below(out.size() + 1), other, from, len);
        break;
      }
      case 3: {  // insert bytes that parsers care about
        static const char* tokens[] = {"\"", "\\", "{", "}", "[", "]", ":", ",", "\n", "\r\n", "\0", "\xff",
                                       "\xc3", "%", "..", "/", "-", "=", "&", "?", "#", "{{", "9999999999999999999"};
        const char* t = tokens[rng.below(sizeof tokens / sizeof *tokens)];
        out.insert(rng.below(out.size() + 1), std::string(t, std::max<std::size_t>(1, std::strlen(t))));
        break;
      }
      case 4:  // duplicate a slice
        if (!out.empty()) {
          const std::size_t from = rng.below(out.size()), len = rng.below(std::min<std::size_t>(out.size() - from, 64) + 1);
          out.insert(from, out.substr(from, len));
        }
        break;
      default:  // overwrite a byte with a random one
        if (!out.empty()) out[rng.below(out.size())] = static_cast<char>(rng.next());
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::snprintf(crash_path, sizeof crash_path, "/tmp/fuzz-crash-%d", static_cast<int>(::getpid()));
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) std::signal(signal, save_crashing_input);
  std::vector<std::string> inputs;
  std::size_t mutations = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mutations") == 0 && i + 1 < argc) {
      mutations = std::strtoull(argv[++i], nullptr, 10);
      continue;
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(argv[i], ec)) {
      std::fprintf(stderr, "%s: corpus directory %s does not exist\n", argv[0], argv[i]);
      return 2;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(argv[i]))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "%s: no corpus files: every fuzzer needs seeds in tests/fuzz/corpus/<name>/\n", argv[0]);
    return 2;
  }
  run("");
  for (const auto& input : inputs) run(input);
  Rng rng{0x9e3779b97f4a7c15ull};
  for (std::size_t i = 0; i < inputs.size(); ++i)
    for (std::size_t m = 0; m < mutations; ++m) run(mutate(inputs[i], inputs, rng));
  std::printf("%zu corpus inputs and %zu mutations ran cleanly\n", inputs.size(), inputs.size() * mutations);
  return 0;
}
