// Runs code in real microVMs through firerun::sandbox::run_code, one VM per
// language (booted once, several cases each): hello world everywhere, compile
// errors, crashes, stdin, timeouts and output caps.
#include "firerun/sandbox.h"
#include "support/leak_check.h"
#include "vm_harness.h"

#include <boost/asio/use_awaitable.hpp>

#include <signal.h>

#include <iostream>

namespace firerun {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using sandbox::CodeRequest;
using sandbox::CodeResult;
using sandbox::Phase;
using testing::must;
using testing::run_async;

class Sandbox : public testing::LeakCheckedTest {};

// Requests are built outside co_await expressions: GCC 12 mishandles braced
// temporaries there.
CodeRequest request(std::string language, std::string code) {
  CodeRequest r;
  r.language = std::move(language);
  r.code = std::move(code);
  // Compiles under TCG are slow; the run step is quick.
  r.compile_timeout = 5min;
  r.timeout = 60s;
  return r;
}

// Boots the language's image with the language's minimum memory.
Task<std::unique_ptr<Vm>> boot(asio::any_io_executor ex, const sandbox::Language& lang) {
  auto vm = must(testing::qemu_backend(ex)->create(testing::spec_for(lang.image, lang.min_memory_mib)), "create");
  auto started = co_await vm->start();
  must(std::move(started), "start");
  std::cerr << "[" << lang.name << "] image " << lang.image << " booted in " << vm->info().boot_time.count()
            << " ms (" << vm->info().accelerator << ", " << lang.min_memory_mib << " MiB)\n";
  co_return vm;
}

Task<CodeResult> run(Vm& vm, const CodeRequest& req) {
  const auto* lang = must(sandbox::find_language(req.language), "language");
  auto result = co_await sandbox::run_code(vm, *lang, req);
  auto r = must(std::move(result), "run_code");
  std::cerr << "[" << lang->name << "] phase=" << to_string(r.phase) << " exit="
            << (r.exec.exit_code ? std::to_string(*r.exec.exit_code) : "-")
            << " compile=" << r.compile_duration.count() << " ms run=" << r.exec.duration.count() << " ms\n";
  co_return r;
}

TEST_F(Sandbox, PythonHelloStdinCrashTimeoutAndOutputCap) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto* lang = must(sandbox::find_language("python"), "language");
    auto vm = co_await boot(ex, *lang);

    auto hello_req = request("py", "import sys\nprint('hello from python', sys.argv[1:])\n");
    hello_req.args = {"a b", "c"};
    auto hello = co_await run(*vm, hello_req);
    EXPECT_EQ(hello.phase, Phase::run);
    EXPECT_EQ(hello.language, "python");
    EXPECT_EQ(hello.exec.exit_code, 0);
    EXPECT_EQ(hello.exec.stdout_data, "hello from python ['a b', 'c']\n");
    EXPECT_EQ(hello.exec.stderr_data, "");

    // Extra files sit next to the main file (also in subdirectories), which is the working directory.
    auto files_req = request("python", "import helper\nprint(helper.x, open('data/in.txt').read())\n");
    files_req.files = {{"helper.py", "x = 41 + 1\n"}, {"data/in.txt", "payload"}};
    auto files = co_await run(*vm, files_req);
    EXPECT_EQ(files.exec.exit_code, 0) << files.exec.stderr_data;
    EXPECT_EQ(files.exec.stdout_data, "42 payload\n");

    auto stdin_req = request("python", "import sys\nfor line in sys.stdin: print(line.strip().upper())\n");
    stdin_req.stdin_data = "first\nsecond\n";
    auto echoed = co_await run(*vm, stdin_req);
    EXPECT_EQ(echoed.exec.stdout_data, "FIRST\nSECOND\n");

    auto env_req = request("python", "import os\nprint(os.environ['GREETING'])\nraise SystemExit(3)\n");
    env_req.env = {{"GREETING", "hi there"}};
    auto env = co_await run(*vm, env_req);
    EXPECT_EQ(env.exec.stdout_data, "hi there\n");
    EXPECT_EQ(env.exec.exit_code, 3);

    auto crash_req = request("python", "import os\nprint('before', flush=True)\nos.abort()\n");
    auto crash = co_await run(*vm, crash_req);
    EXPECT_EQ(crash.phase, Phase::run);
    EXPECT_FALSE(crash.exec.exit_code.has_value());
    EXPECT_EQ(crash.exec.signal, SIGABRT);
    EXPECT_EQ(crash.exec.stdout_data, "before\n");

    auto loop_req = request("python", "while True:\n    pass\n");
    loop_req.timeout = 2s;
    auto loop = co_await run(*vm, loop_req);
    EXPECT_TRUE(loop.exec.timed_out);
    EXPECT_FALSE(loop.exec.exit_code.has_value());
    EXPECT_GE(loop.exec.duration, 2s);

    auto flood_req = request("python", "import sys\nsys.stdout.write('x' * 100000)\nsys.stderr.write('e' * 10)\n");
    flood_req.output_cap = 1000;
    auto flood = co_await run(*vm, flood_req);
    EXPECT_EQ(flood.exec.exit_code, 0);
    EXPECT_TRUE(flood.exec.stdout_truncated);
    EXPECT_EQ(flood.exec.stdout_data, std::string(1000, 'x'));
    EXPECT_FALSE(flood.exec.stderr_truncated);
    EXPECT_EQ(flood.exec.stderr_data, std::string(10, 'e'));

    // Invalid requests fail before the VM is used, naming the field.
    auto bad_req = request("python", "print(1)");
    bad_req.files = {{"../escape", "x"}};
    auto bad = co_await sandbox::run_code(*vm, *lang, bad_req);
    FIRERUN_CO_ASSERT(!bad);
    EXPECT_EQ(bad.error().errc(), Errc::invalid_argument);
    EXPECT_NE(bad.error().message().find("files[0].name"), std::string::npos);
    auto stopped = co_await vm->stop();
    must(std::move(stopped), "stop");
  });
}

TEST_F(Sandbox, NodeHelloWorld) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto* lang = must(sandbox::find_language("node"), "language");
    auto vm = co_await boot(ex, *lang);
    auto req = request("js", "console.log('hello from node', process.version.split('.')[0], process.argv.slice(2));\n");
    req.args = {"x"};
    auto hello = co_await run(*vm, req);
    EXPECT_EQ(hello.exec.exit_code, 0) << hello.exec.stderr_data;
    EXPECT_EQ(hello.exec.stdout_data, "hello from node v18 [ 'x' ]\n");

    auto thrown_req = request("node", "throw new Error('boom');\n");
    auto thrown = co_await run(*vm, thrown_req);
    EXPECT_EQ(thrown.exec.exit_code, 1);
    EXPECT_NE(thrown.exec.stderr_data.find("Error: boom"), std::string::npos) << thrown.exec.stderr_data;
    auto stopped = co_await vm->stop();
    must(std::move(stopped), "stop");
  });
}

TEST_F(Sandbox, BashHelloWorld) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto* lang = must(sandbox::find_language("bash"), "language");
    auto vm = co_await boot(ex, *lang);
    auto req = request("sh", "echo \"hello from bash $BASH_VERSINFO: $1\"\necho oops >&2\nexit 4\n");
    req.args = {"arg one"};
    auto hello = co_await run(*vm, req);
    EXPECT_EQ(hello.phase, Phase::run);
    EXPECT_EQ(hello.exec.exit_code, 4);
    EXPECT_EQ(hello.exec.stdout_data, "hello from bash 5: arg one\n");
    EXPECT_EQ(hello.exec.stderr_data, "oops\n");

    // Who runs the code: the unprivileged guest user by default; root when the
    // request asks, or when the language says `run_as: root`.
    auto whoami = request("bash", "id -u");
    auto as_user = co_await run(*vm, whoami);
    EXPECT_NE(as_user.exec.stdout_data, "0\n");
    EXPECT_FALSE(as_user.exec.stdout_data.empty());
    whoami.as_root = true;
    auto asked_root = co_await run(*vm, whoami);
    EXPECT_EQ(asked_root.exec.stdout_data, "0\n");
    sandbox::Language root_lang = *lang;
    root_lang.runs_as_root = true;
    whoami.as_root = false;
    auto by_language = co_await sandbox::run_code(*vm, root_lang, whoami);
    EXPECT_EQ(must(std::move(by_language), "run_code").exec.stdout_data, "0\n");
    auto stopped = co_await vm->stop();
    must(std::move(stopped), "stop");
  });
}

TEST_F(Sandbox, GoHelloWorldAndCompileError) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto* lang = must(sandbox::find_language("go"), "language");
    auto vm = co_await boot(ex, *lang);
    auto req = request("golang",
                       "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n"
                       "func main() {\n\tfmt.Println(\"hello from go\", greeting(), os.Args[1:])\n}\n");
    req.files = {{"greeting.go", "package main\n\nfunc greeting() string { return \"and a second file\" }\n"}};
    req.args = {"z"};
    auto hello = co_await run(*vm, req);
    EXPECT_EQ(hello.phase, Phase::run) << hello.exec.stderr_data;
    EXPECT_EQ(hello.exec.exit_code, 0) << hello.exec.stderr_data;
    EXPECT_EQ(hello.exec.stdout_data, "hello from go and a second file [z]\n");
    EXPECT_GT(hello.compile_duration, 0ms);

    auto broken_req = request("go", "package main\n\nfunc main() {\n\tundefinedThing()\n}\n");
    auto broken = co_await run(*vm, broken_req);
    EXPECT_EQ(broken.phase, Phase::compile);
    FIRERUN_CO_ASSERT(broken.exec.exit_code.has_value());
    EXPECT_NE(*broken.exec.exit_code, 0);
    EXPECT_NE(broken.exec.stderr_data.find("undefined: undefinedThing"), std::string::npos)
        << broken.exec.stderr_data;
    auto stopped = co_await vm->stop();
    must(std::move(stopped), "stop");
  }, std::chrono::seconds(900));
}

TEST_F(Sandbox, RustHelloWorldAndCompileError) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto* lang = must(sandbox::find_language("rust"), "language");
    auto vm = co_await boot(ex, *lang);
    auto req = request("rs", "mod util;\nfn main() {\n    println!(\"hello from rust {}\", util::answer());\n}\n");
    req.files = {{"util.rs", "pub fn answer() -> u32 { 42 }\n"}};
    auto hello = co_await run(*vm, req);
    EXPECT_EQ(hello.phase, Phase::run) << hello.exec.stderr_data;
    EXPECT_EQ(hello.exec.exit_code, 0) << hello.exec.stderr_data;
    EXPECT_EQ(hello.exec.stdout_data, "hello from rust 42\n");

    auto broken_req = request("rust", "fn main() {\n    let x: u32 = \"text\";\n}\n");
    auto broken = co_await run(*vm, broken_req);
    EXPECT_EQ(broken.phase, Phase::compile);
    FIRERUN_CO_ASSERT(broken.exec.exit_code.has_value());
    EXPECT_NE(*broken.exec.exit_code, 0);
    EXPECT_NE(broken.exec.stderr_data.find("mismatched types"), std::string::npos) << broken.exec.stderr_data;

    auto panic_req = request("rust", "fn main() {\n    panic!(\"deliberate\");\n}\n");
    auto panic = co_await run(*vm, panic_req);
    EXPECT_EQ(panic.phase, Phase::run);
    EXPECT_EQ(panic.exec.exit_code, 101);
    EXPECT_NE(panic.exec.stderr_data.find("deliberate"), std::string::npos) << panic.exec.stderr_data;
    auto stopped = co_await vm->stop();
    must(std::move(stopped), "stop");
  }, std::chrono::seconds(900));
}

}  // namespace
}  // namespace firerun
