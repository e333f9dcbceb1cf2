// Running source code in a language inside a VM: the layer under the
// `POST /v1/execute` API. Languages are data (which image, which file name,
// how to compile, how to run), not code paths.
#pragma once

#include "firerun/error.h"
#include "firerun/exec.h"
#include "firerun/vm.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::sandbox {

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
};

enum class Phase { compile, run };
const char* to_string(Phase p) noexcept;

/// Outcome: the result of the last phase that ran (compile if it failed).
struct CodeResult {
  Phase phase = Phase::run;
  ExecResult exec;
  std::string language;  ///< canonical name
  std::string version;   ///< language/toolchain version
};

/// A language: pure data, loaded from built-in YAML.
struct Language {
  std::string name;                          ///< canonical name, e.g. "python"
  std::vector<std::string> aliases;          ///< e.g. {"py", "python3"}
  std::string version;                       ///< reported version, e.g. "3.11"
  std::string image;                         ///< image recipe that provides the toolchain
  std::string source_file;                   ///< main file name, e.g. "main.py"
  std::vector<std::string> compile_argv;     ///< empty = interpreted; "{src}"/"{out}" are substituted
  std::vector<std::string> run_argv;         ///< "{src}"/"{out}" substituted; request args appended
  std::uint64_t min_memory_mib = 256;        ///< smallest VM that can compile and run it
  std::map<std::string, std::string> env;    ///< toolchain environment (GOCACHE, ...)
};

/// The built-in languages (python, node, go, rust, bash).
const std::vector<Language>& languages();
/// Finds a language by name or alias; not_found lists the known ones.
Result<const Language*> find_language(std::string_view name_or_alias);
/// Validates a request (sizes, file names, timeouts) before any VM is touched.
Status validate(const CodeRequest& request);

/// Runs a request in an already-running VM booted from the language's image:
/// writes the sources, compiles if needed (a failure returns phase=compile),
/// then runs. Arguments must outlive the co_await.
Task<Result<CodeResult>> run_code(Vm& vm, const Language& language, const CodeRequest& request);

}  // namespace firerun::sandbox
