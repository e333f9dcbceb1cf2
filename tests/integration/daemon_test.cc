// Real HTTP to a real firerund booting real microVMs: the /v1 API, the Piston
// compatibility API, bad input, auth, the OpenAPI document, load and crashes.
#include "daemon_harness.h"

#include <yaml-cpp/yaml.h>

#include <regex>

namespace firerun::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

std::string execute_body(const std::string& lang, const std::string& code, json::object extra = {}) {
  extra["lang"] = lang;
  extra["code"] = code;
  return json::serialize(extra);
}

/// One daemon shared by the functional tests (2 concurrent VMs, 64 KiB output cap).
class DaemonApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("api");
    daemon_ = new Daemon(dir_->path, {{"FIRERUN_LIMITS_MAX_CONCURRENT_JOBS", "2"},
                                      {"FIRERUN_LIMITS_MAX_OUTPUT_BYTES", "65536"},
                                      {"FIRERUN_LIMITS_MAX_BODY_BYTES", "200000"},
                                      {"FIRERUN_LIMITS_MAX_CODE_BYTES", "100000"}});
    daemon_->start();
  }
  static void TearDownTestSuite() {
    int status = daemon_->terminate();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "graceful shutdown must exit 0";
    delete daemon_;
    delete dir_;
  }
  static json::object execute(const std::string& body) {
    auto r = daemon_->post("/v1/execute", body);
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json().as_object();
  }
  static inline TempDir* dir_ = nullptr;
  static inline Daemon* daemon_ = nullptr;
};

TEST_F(DaemonApi, PythonAndBashHelloWorld) {
  auto py = execute(execute_body("python", "print('hello from python')"));
  EXPECT_EQ(py.at("stdout"), "hello from python\n");
  EXPECT_EQ(py.at("stderr"), "");
  EXPECT_EQ(py.at("exit_code"), 0);
  EXPECT_TRUE(py.at("signal").is_null());
  EXPECT_EQ(py.at("timed_out"), false);
  EXPECT_EQ(py.at("truncated"), false);
  EXPECT_EQ(py.at("phase"), "run");
  EXPECT_FALSE(py.at("trace_id").as_string().empty());
  EXPECT_TRUE(py.at("duration_ms").is_number());
  auto sh = execute(execute_body("bash", "echo out; echo err >&2; exit 3"));
  EXPECT_EQ(sh.at("stdout"), "out\n");
  EXPECT_EQ(sh.at("stderr"), "err\n");
  EXPECT_EQ(sh.at("exit_code"), 3);
}

TEST_F(DaemonApi, HelloWorldInEveryLanguageAndCompileErrors) {
  const std::vector<std::pair<std::string, std::string>> hello = {
      {"node", "console.log('hello from node')"},
      {"go", "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello from go\") }\n"},
      {"rust", "fn main() { println!(\"hello from rust\"); }\n"},
  };
  for (const auto& [lang, code] : hello) {
    auto r = execute(execute_body(lang, code, {{"timeout_ms", 30000}}));
    EXPECT_EQ(std::string(r.at("stdout").as_string()), "hello from " + lang + "\n") << lang << ": " << json::serialize(r);
    EXPECT_EQ(r.at("exit_code"), 0) << lang;
    EXPECT_EQ(r.at("phase"), "run") << lang;
  }
  // Compile errors come back as such: phase "compile", non-zero exit, the compiler's message.
  auto go = execute(execute_body("go", "package main\nfunc main() { undefinedThing() }\n"));
  EXPECT_EQ(go.at("phase"), "compile");
  EXPECT_NE(go.at("exit_code"), 0);
  EXPECT_NE(std::string(go.at("stderr").as_string()).find("undefined"), std::string::npos) << json::serialize(go);
  auto rust = execute(execute_body("rust", "fn main() { let x: i32 = \"no\"; }\n"));
  EXPECT_EQ(rust.at("phase"), "compile");
  EXPECT_NE(rust.at("exit_code"), 0);
  EXPECT_NE(std::string(rust.at("stderr").as_string()).find("mismatched types"), std::string::npos)
      << json::serialize(rust);
}

TEST_F(DaemonApi, StdinArgsAndFiles) {
  json::object extra{{"stdin", "line one\nline two\n"},
                     {"args", json::array{"a1", "a2"}},
                     {"files", json::array{json::object{{"name", "data.txt"}, {"content", "from a file"}}}}};
  auto r = execute(execute_body(
      "python", "import sys\nprint(sys.stdin.read().upper(), end='')\nprint(sys.argv[1:])\nprint(open('data.txt').read())",
      extra));
  EXPECT_EQ(r.at("stdout"), "LINE ONE\nLINE TWO\n['a1', 'a2']\nfrom a file\n");
}

TEST_F(DaemonApi, UserTimeoutIsReportedNotRetried) {
  auto r = execute(execute_body("bash", "echo started; sleep 30", {{"timeout_ms", 1500}}));
  EXPECT_EQ(r.at("timed_out"), true);
  EXPECT_EQ(r.at("stdout"), "started\n");
}

TEST_F(DaemonApi, CrashReportsTheSignal) {
  auto r = execute(execute_body("python", "import os\nprint('before', flush=True)\nos.abort()"));
  EXPECT_EQ(r.at("signal"), "SIGABRT");
  EXPECT_TRUE(r.at("exit_code").is_null());
  EXPECT_EQ(r.at("stdout"), "before\n");
}

TEST_F(DaemonApi, OutputOverTheCapIsTruncated) {
  auto r = execute(execute_body("bash", "head -c 300000 /dev/zero | tr '\\0' x; echo done >&2"));
  EXPECT_EQ(r.at("truncated"), true);
  EXPECT_EQ(r.at("stdout").as_string().size(), 65536u);
  EXPECT_EQ(r.at("stderr"), "done\n");
  EXPECT_EQ(r.at("exit_code"), 0);
}

TEST_F(DaemonApi, AsyncJobsCanBePolledAndCancelled) {
  auto created = daemon_->post("/v1/jobs", execute_body("bash", "echo async"));
  ASSERT_EQ(created.status, 202u) << created.body;
  std::string id(created.json().at("id").as_string());
  auto done = wait_job(*daemon_, id);
  EXPECT_EQ(done.at("status"), "completed");
  EXPECT_EQ(done.at("result").at("stdout"), "async\n");
  EXPECT_EQ(done.at("result").at("trace_id"), json::value(id));

  auto slow = daemon_->post("/v1/jobs", execute_body("bash", "sleep 60", {{"timeout_ms", 60000}}));
  ASSERT_EQ(slow.status, 202u) << slow.body;
  std::string slow_id(slow.json().at("id").as_string());
  // Cancel once it is running: the VM must be torn down promptly.
  for (int i = 0; i < 600; ++i) {
    if (daemon_->get("/v1/jobs/" + slow_id).json().at("status") == "running") break;
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(500ms);
  auto cancelled = daemon_->del("/v1/jobs/" + slow_id);
  EXPECT_TRUE(cancelled.status == 200u || cancelled.status == 202u) << cancelled.body;
  const auto t0 = std::chrono::steady_clock::now();
  auto final_state = wait_job(*daemon_, slow_id, 60s);
  EXPECT_EQ(final_state.at("status"), "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_EQ(daemon_->del("/v1/jobs/" + slow_id).status, 409u) << "already finished";
  EXPECT_EQ(daemon_->get("/v1/jobs/0123456789abcdef").status, 404u);
  EXPECT_EQ(daemon_->del("/v1/jobs/0123456789abcdef").status, 404u);
}

TEST_F(DaemonApi, PistonExecuteAndRuntimes) {
  auto runtimes = daemon_->get("/api/v2/runtimes");
  ASSERT_EQ(runtimes.status, 200u);
  bool has_python = false;
  const auto list = runtimes.json();
  for (const auto& rt : list.as_array()) {
    EXPECT_TRUE(rt.as_object().contains("language") && rt.as_object().contains("version") &&
                rt.at("aliases").is_array());
    has_python = has_python || rt.at("language") == "python";
  }
  EXPECT_TRUE(has_python);

  auto r = daemon_->post("/api/v2/execute", R"J({"language":"py","version":"*","files":[{"name":"main.py",
      "content":"import sys\nprint(input())\nprint('e', file=sys.stderr)\nsys.exit(2)"}],"stdin":"piston\n",
      "args":[],"compile_timeout":10000,"run_timeout":5000,"compile_memory_limit":-1,"run_memory_limit":-1})J");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto o = r.json().as_object();
  EXPECT_EQ(o.at("language"), "python");
  EXPECT_TRUE(o.at("version").is_string());
  EXPECT_FALSE(o.contains("compile")) << "python has no compile stage";
  const auto& run = o.at("run").as_object();
  EXPECT_EQ(run.at("stdout"), "piston\n");
  EXPECT_EQ(run.at("stderr"), "e\n");
  EXPECT_EQ(run.at("output"), "piston\ne\n");
  EXPECT_EQ(run.at("code"), 2);
  EXPECT_TRUE(run.at("signal").is_null());

  auto unknown = daemon_->post("/api/v2/execute", R"J({"language":"cobol","version":"*","files":[{"content":"x"}]})J");
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_TRUE(unknown.json().as_object().contains("message"));
}

TEST_F(DaemonApi, BadInputGets4xxAndQueuesNothing) {
  const double finished_before = daemon_->metric("firerun_jobs_total{status=\"completed\"}") +
                                 daemon_->metric("firerun_jobs_total{status=\"failed\"}");
  const double rejected_before = daemon_->metric("firerun_http_rejected_total");
  struct Case {
    std::string target, body;
    unsigned status;
  } cases[] = {
      {"/v1/execute", "{not json", 400},
      {"/v1/execute", execute_body("cobol", "x"), 400},
      {"/v1/execute", execute_body("bash", "true", {{"timeout_ms", -1}}), 400},
      {"/v1/execute", execute_body("bash", "true", {{"timeout_ms", 1e12}}), 400},
      {"/v1/execute", execute_body("bash", "true", {{"memory_mb", 1 << 20}}), 400},
      {"/v1/execute", execute_body("bash", std::string(150000, 'x')), 413},
      {"/v1/jobs", execute_body("bash", std::string(300000, 'x')), 413},
      {"/v1/jobs", R"J({"lang":"bash"})J", 400},
      {"/v1/execute", execute_body("bash", "true", {{"files", json::array{json::object{{"name", "../x"}, {"content", ""}}}}}), 400},
      {"/api/v2/execute", R"J({"language":"bash","files":"nope"})J", 400},
  };
  for (const auto& c : cases) {
    auto r = daemon_->post(c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body.substr(0, 80) << " -> " << r.body;
    if (c.target.rfind("/v1", 0) == 0 && r.status != 413) {
      auto err = r.json().at("error").as_object();
      EXPECT_TRUE(err.at("code").is_string() && err.at("message").is_string());
    }
  }
  EXPECT_EQ(daemon_->metric("firerun_queue_size"), 0);
  EXPECT_EQ(daemon_->metric("firerun_jobs_total{status=\"completed\"}") +
                daemon_->metric("firerun_jobs_total{status=\"failed\"}"),
            finished_before)
      << "nothing may have been queued";
  EXPECT_EQ(daemon_->metric("firerun_http_rejected_total"), rejected_before + std::size(cases));
  EXPECT_EQ(daemon_->get("/v1/nope").status, 404u);
  EXPECT_EQ(http_request(daemon_->port(), http::verb::put, "/v1/execute").status, 405u);
}

TEST_F(DaemonApi, MetricsHealthAndLanguages) {
  EXPECT_EQ(daemon_->get("/healthz").status, 200u);
  EXPECT_EQ(daemon_->get("/readyz").status, 200u);
  auto m = daemon_->get("/metrics");
  EXPECT_EQ(m.status, 200u);
  EXPECT_NE(m.content_type.find("text/plain"), std::string::npos);
  for (const char* name : {"firerun_jobs_total{status=\"completed\"}", "firerun_vms_active", "firerun_queue_size",
                           "firerun_job_duration_seconds_bucket", "firerun_vm_boot_seconds_bucket"})
    EXPECT_NE(m.body.find(name), std::string::npos) << name;
  auto langs = daemon_->get("/v1/languages").json().as_array();
  std::set<std::string> names;
  for (const auto& l : langs) names.insert(std::string(l.at("name").as_string()));
  EXPECT_TRUE(names.count("python") && names.count("bash"));
}

// Every path+method in docs/openapi.yaml answers with a documented status, and
// JSON object responses carry the documented required fields.
TEST_F(DaemonApi, OpenApiDocumentMatchesTheServer) {
  const char* doc_path = std::getenv("FIRERUN_OPENAPI");
#ifdef FIRERUN_OPENAPI_PATH
  if (!doc_path) doc_path = FIRERUN_OPENAPI_PATH;
#endif
  ASSERT_NE(doc_path, nullptr);
  YAML::Node doc = YAML::LoadFile(doc_path);
  auto created = daemon_->post("/v1/jobs", execute_body("bash", "echo doc"));
  ASSERT_EQ(created.status, 202u);
  std::string job_id(created.json().at("id").as_string());
  wait_job(*daemon_, job_id);
  // Request bodies that exercise the success path of each POST.
  std::map<std::string, std::string> bodies{
      {"/v1/execute", execute_body("bash", "echo hi")},
      {"/v1/jobs", execute_body("bash", "echo hi")},
      {"/api/v2/execute", R"J({"language":"bash","version":"*","files":[{"content":"echo hi"}]})J"}};
  auto resolve_ref = [&](YAML::Node schema) {
    while (schema["$ref"]) {
      std::string ref = schema["$ref"].as<std::string>();  // "#/components/schemas/Name"
      schema = doc["components"]["schemas"][ref.substr(ref.rfind('/') + 1)];
    }
    return schema;
  };
  int checked = 0;
  for (const auto& path : doc["paths"]) {
    std::string pattern = path.first.as<std::string>();
    std::string target = std::regex_replace(pattern, std::regex("\\{id\\}"), job_id);
    for (const auto& op : path.second) {
      std::string method = op.first.as<std::string>();
      if (method != "get" && method != "post" && method != "delete") continue;  // e.g. "parameters"
      http::verb verb = http::string_to_verb(std::string(method == "delete" ? "DELETE" : method == "post" ? "POST" : "GET"));
      auto reply = http_request(daemon_->port(), verb, target, verb == http::verb::post ? bodies[pattern] : "");
      auto responses = op.second["responses"];
      YAML::Node documented = responses[std::to_string(reply.status)];
      EXPECT_TRUE(documented.IsDefined()) << method << " " << pattern << " answered an undocumented " << reply.status;
      ++checked;
      if (!documented.IsDefined()) continue;
      if (documented["$ref"]) {
        std::string ref = documented["$ref"].as<std::string>();  // "#/components/responses/Name"
        documented = doc["components"]["responses"][ref.substr(ref.rfind('/') + 1)];
      }
      if (!documented["content"] || !documented["content"]["application/json"]) continue;
      YAML::Node schema = resolve_ref(documented["content"]["application/json"]["schema"]);
      auto body = reply.json();
      if (schema["type"] && schema["type"].as<std::string>() == "array") {
        EXPECT_TRUE(body.is_array()) << pattern;
        if (!body.is_array() || body.as_array().empty()) continue;
        schema = resolve_ref(schema["items"]);
        body = body.as_array().front();
      }
      if (!schema["required"]) continue;
      for (const auto& field : schema["required"])
        EXPECT_TRUE(body.is_object() && body.as_object().contains(field.as<std::string>()))
            << method << " " << pattern << ": missing required field " << field.as<std::string>() << " in " << reply.body;
    }
  }
  EXPECT_GE(checked, 10);
}

TEST(DaemonAuth, WrongOrMissingTokenIs401) {
  TempDir dir("auth");
  const std::string token = "integration-test-token-0123456789";
  Daemon d(dir.path, {{"FIRERUN_AUTH_TOKEN", token}});
  d.start();
  EXPECT_EQ(d.get("/v1/languages").status, 401u);
  EXPECT_EQ(d.get("/v1/languages", "wrong-token-wrong-token-wrong").status, 401u);
  EXPECT_EQ(d.get("/v1/languages", token + "x").status, 401u);
  auto denied = d.post("/v1/jobs", execute_body("bash", "true"), "nope");
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(denied.body.find(token), std::string::npos);
  EXPECT_EQ(d.get("/v1/languages", token).status, 200u);
  EXPECT_EQ(d.get("/healthz").status, 200u) << "health checks need no token";
  EXPECT_EQ(d.metric("firerun_queue_size", token), 0);
  EXPECT_EQ(d.terminate(), 0);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// N jobs submitted at once with room for 2 VMs: all complete exactly once,
// the queue drains, and the daemon leaks neither processes nor fds.
TEST(DaemonLoad, ManyJobsAllCompleteOnceWithoutLeaks) {
  // 60 by default keeps the suite fast; FIRERUN_DAEMON_LOAD_JOBS=1000 for a soak run.
  const int jobs = env_int("FIRERUN_DAEMON_LOAD_JOBS", 60);
  TempDir dir("load");
  Daemon d(dir.path, {{"FIRERUN_LIMITS_MAX_CONCURRENT_JOBS", "2"}, {"FIRERUN_LIMITS_MAX_QUEUE", "1000"}});
  d.start();
  // Warm-up so lazily opened fds (DB, logs) are counted in the baseline.
  ASSERT_EQ(d.post("/v1/execute", execute_body("bash", "true")).status, 200u);
  std::this_thread::sleep_for(500ms);
  const std::size_t fds_before = fd_count(d.pid());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> ids;
  for (int i = 0; i < jobs; ++i) {
    auto r = d.post("/v1/jobs", execute_body("bash", "true"));
    ASSERT_EQ(r.status, 202u) << r.body;
    ids.emplace_back(r.json().at("id").as_string());
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "ids must be unique";
  double peak_vms = 0;
  for (const auto& id : ids) {
    peak_vms = std::max(peak_vms, d.metric("firerun_vms_active"));
    auto o = wait_job(d, id, 900s);
    EXPECT_EQ(o.at("status"), "completed") << json::serialize(o);
    EXPECT_EQ(o.at("attempts"), 1);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("load: %d jobs in %.1f s (%.2f jobs/s)\n", jobs, seconds, jobs / seconds);
  EXPECT_LE(peak_vms, 2);
  EXPECT_EQ(d.metric("firerun_queue_size"), 0);
  EXPECT_EQ(d.metric("firerun_jobs_running"), 0);
  EXPECT_EQ(d.metric("firerun_vms_active"), 0);
  EXPECT_EQ(d.metric("firerun_jobs_total{status=\"completed\"}"), jobs + 1);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(children_of(d.pid()).empty()) << "no QEMU may outlive its job";
  EXPECT_EQ(fd_count(d.pid()), fds_before) << "file descriptors leaked";
  EXPECT_EQ(d.terminate(), 0);
}

// kill -9 with jobs queued and running; a restart on the same state dir
// resolves every job exactly once and no QEMU survives.
TEST(DaemonCrash, KillNineThenRestartResolvesEveryJob) {
  TempDir dir("crash");
  std::map<std::string, std::string> env{{"FIRERUN_LIMITS_MAX_CONCURRENT_JOBS", "2"}};
  std::vector<std::string> ids;
  std::set<int> vmm_pids;
  int dead_daemon = 0;
  {
    Daemon d(dir.path, env);
    d.start();
    dead_daemon = d.pid();
    for (int i = 0; i < 6; ++i) {
      auto r = d.post("/v1/jobs", execute_body("bash", "sleep 20", {{"timeout_ms", 30000}}));
      ASSERT_EQ(r.status, 202u) << r.body;
      ids.emplace_back(r.json().at("id").as_string());
    }
    // Wait until two jobs run inside booted VMs.
    for (int i = 0; i < 1200 && d.metric("firerun_jobs_running") < 2; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(d.metric("firerun_jobs_running"), 2);
    std::this_thread::sleep_for(5s);
    vmm_pids = children_of(d.pid());
    EXPECT_EQ(vmm_pids.size(), 2u);
    d.kill9();
  }
  Daemon restarted(dir.path, env);
  restarted.start();
  std::map<std::string, int> by_status;
  for (const auto& id : ids) {
    auto o = wait_job(restarted, id, 600s);
    by_status[std::string(o.at("status").as_string())] += 1;
  }
  EXPECT_EQ(by_status["failed"], 2) << "the interrupted jobs are failed (scheduler.on_restart: fail)";
  EXPECT_EQ(by_status["completed"], 4) << "the queued jobs ran after the restart";
  for (int pid : vmm_pids) EXPECT_FALSE(process_alive(pid)) << "orphaned QEMU " << pid;
  // The killed daemon's jail cgroups (<pid>.<vm> under each controller's
  // firerun/) were swept by the restarted one when it started its first VM.
  for (const char* controller : {"memory", "pids", "cpu", "unified"}) {
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path("/sys/fs/cgroup") / controller / "firerun", ec))
      EXPECT_NE(entry.path().filename().string().rfind(std::to_string(dead_daemon) + ".", 0), 0u)
          << "left behind by the killed daemon: " << entry.path();
  }
  EXPECT_EQ(restarted.terminate(), 0);
}

}  // namespace
}  // namespace firerun::testing
