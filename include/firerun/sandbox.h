// Running source code in a language inside a VM: the layer under the
// `POST /v1/execute` API. Languages are data (which image, which file name,
// how to compile, how to run), not code paths.
#pragma once

#include "firerun/error.h"
#include "firerun/exec.h"
#include "firerun/vm.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::sandbox {

/// Limits enforced by validate(); the error names the field that broke them.
inline constexpr std::size_t kMaxCodeBytes = 1u << 20;          ///< main source
inline constexpr std::size_t kMaxFiles = 64;                    ///< extra files
inline constexpr std::size_t kMaxTotalSourceBytes = 16u << 20;  ///< main source + extra files
inline constexpr std::size_t kMaxArgs = 1024;                   ///< program arguments
inline constexpr std::size_t kMaxEnv = 256;                     ///< environment entries
inline constexpr std::size_t kMaxStdinBytes = 16u << 20;
inline constexpr std::chrono::milliseconds kMaxTimeout{10 * 60 * 1000};  ///< run and compile
inline constexpr std::uint64_t kMaxOutputCap = 64u << 20;       ///< per stream

/// An extra file placed next to the main source file.
struct SourceFile {
  std::string name;     ///< relative path inside the work directory (no "..", not absolute)
  std::string content;
};

/// What a client asks to run.
struct CodeRequest {
  std::string language;                        ///< name or alias ("python", "py", "node", "go", "rust", "bash")
  std::string code;                            ///< the main source file
  std::vector<SourceFile> files;               ///< extra files
  std::vector<std::string> args;               ///< program arguments
  std::map<std::string, std::string> env;
  std::optional<std::string> stdin_data;
  std::chrono::milliseconds timeout{10000};    ///< run phase (compile has its own limit)
  std::chrono::milliseconds compile_timeout{60000};
  std::uint64_t output_cap = 1u << 20;         ///< per stream
  /// Compile and run as the guest's root instead of the unprivileged guest
  /// user. Root in the guest can crash or reboot its own VM; callers decide
  /// who may ask (firerund: limits.allow_root).
  bool as_root = false;
};

enum class Phase { compile, run };
const char* to_string(Phase p) noexcept;

/// Outcome: the result of the last phase that ran (compile if it failed).
struct CodeResult {
  Phase phase = Phase::run;
  ExecResult exec;
  std::string language;  ///< canonical name
  std::string version;   ///< language/toolchain version
  std::chrono::milliseconds compile_duration{0};  ///< 0 for interpreted languages
};

/// A language: pure data, loaded from built-in YAML.
struct Language {
  std::string name;                          ///< canonical name, e.g. "python"
  std::vector<std::string> aliases;          ///< e.g. {"py", "python3"}
  std::string version;                       ///< reported version, e.g. "3.11"
  std::string image;                         ///< image recipe that provides the toolchain
  std::string source_file;                   ///< main file name, e.g. "main.py"
  std::vector<std::string> compile_argv;     ///< empty = interpreted; "{src}", "{dir}", "{out}" are substituted
  std::vector<std::string> run_argv;         ///< same substitutions; request args appended
  std::uint64_t min_memory_mib = 256;        ///< smallest VM that can compile and run it
  std::map<std::string, std::string> env;    ///< toolchain environment (GOCACHE, ...)
  /// Compile and run as the guest's root for every request (YAML `run_as: root`),
  /// for toolchains that must write where the guest user cannot. Default: the
  /// unprivileged guest user, unless the request asks for root.
  bool runs_as_root = false;
};

/// The built-in languages (python, node, go, rust, bash).
const std::vector<Language>& languages();
/// Finds a language by name or alias; not_found lists the known ones.
Result<const Language*> find_language(std::string_view name_or_alias);
/// Validates a request (language, sizes, file names, env, timeouts, cap)
/// before any VM is touched; invalid_argument naming the field.
Status validate(const CodeRequest& request);

/// Runs a request in an already-running VM booted from the language's image
/// (at least language.min_memory_mib): validates it, writes the sources into a
/// fresh /tmp/firerun-work-<random> (the working directory of both steps),
/// compiles if needed (a failure or compile timeout returns phase=compile with
/// the compiler's output), then runs. Program failures (non-zero exit, signal,
/// timeout, truncation) are in CodeResult::exec; errors are for requests that
/// could not be carried out. The work directory is left behind: use one VM
/// per request when requests must not see each other. Arguments must outlive
/// the co_await.
Task<Result<CodeResult>> run_code(Vm& vm, const Language& language, const CodeRequest& request);

}  // namespace firerun::sandbox
