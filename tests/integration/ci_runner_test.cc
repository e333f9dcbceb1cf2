// CI runners end to end: a real firerund receives signed GitHub / GitLab
// webhooks (the conformance payloads, re-labelled), registers one-job runners
// with contract_server.py (a local API enforcing the documented subset), boots
// the ci-standin image whose stand-in runner reports what it was handed, and
// removes the runner afterwards. The API servers run on a test host in a
// network namespace of their own; runner VMs get a network whose egress
// allows only that host, and the stand-in contacts its server over it as a
// real runner would. Plus the faults: API 500 / 429 / down,
// redeliveries, cancellation while booting, kill -9 mid-job.
#include "daemon_harness.h"

#include "../unit/ci/contract_server.h"
#include "core/crypto.h"
#include "support/test_host.h"


#include <regex>

namespace firerun::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kWebhookSecret = "webhook-secret-for-tests-0123456789";
constexpr const char* kGithubToken = "ghp_contracttoken0123456789abcdef";
constexpr const char* kGitlabToken = "glpat-contracttoken0123456789";
constexpr const char* kStandinLabels = "firerun/cpu=1/ram=1/image=ci-standin";

using ::firerun::detail::sha256_hex;

std::string github_signature(const std::string& body, const std::string& secret = kWebhookSecret) {
  return "sha256=" + ::firerun::detail::hex(::firerun::detail::hmac_sha256(secret, body));
}

json::value read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
}

/// Written 0600: firerund refuses secret files that group or others can read.
void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

/// POST with arbitrary headers (webhooks carry their own).
Reply post_webhook(unsigned short port, const std::string& target, const std::string& body,
                   const std::map<std::string, std::string>& headers) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::beast::error_code ec;
  http::read(stream, buffer, res, ec);
  if (ec) throw std::runtime_error("POST " + target + " (" + std::to_string(body.size()) + " bytes): " + ec.message());
  return Reply{res.result_int(), res.body(), std::string(res[http::field::content_type])};
}

/// The conformance `workflow_job` payload, re-labelled for the stand-in image.
std::string workflow_job(const std::string& action, std::uint64_t job_id, const std::string& labels = kStandinLabels,
                         const std::string& conclusion = "") {
  auto payload = read_json(conformance_dir() / "github/webhooks/workflow_job/queued.payload.json").as_object();
  payload["action"] = action;
  auto& job = payload["workflow_job"].as_object();
  job["id"] = job_id;
  job["status"] = action == "queued" ? "queued" : action;
  job["labels"] = json::array{"self-hosted", json::string(labels)};
  job["runner_id"] = nullptr;
  job["runner_name"] = nullptr;
  job["runner_group_id"] = nullptr;
  job["runner_group_name"] = nullptr;
  if (!conclusion.empty()) job["conclusion"] = conclusion;
  return json::serialize(payload);
}

std::map<std::string, std::string> github_headers(const std::string& event, const std::string& body,
                                                  const std::string& delivery) {
  return {{"X-GitHub-Event", event}, {"X-GitHub-Delivery", delivery}, {"X-Hub-Signature-256", github_signature(body)},
          {"User-Agent", "GitHub-Hookshot/test"}};
}

/// Lines "key=value" the stand-in runner printed.
std::map<std::string, std::string> standin_report(const json::object& job) {
  std::map<std::string, std::string> out;
  std::istringstream in(std::string(job.at("result").at("stdout_tail").as_string()));
  std::string line;
  while (std::getline(in, line))
    if (auto eq = line.find('='); eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  return out;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Requests the contract server saw, filtered by method and a path regex.
std::vector<json::object> requests_to(const ci::testing::ContractServer& server, const std::string& method,
                                      const std::string& path_regex) {
  std::vector<json::object> out;
  for (const auto& r : server.requests()) {
    const auto& o = r.as_object();
    if (o.at("method").as_string() == method && std::regex_search(std::string(o.at("path").as_string()), std::regex(path_regex)))
      out.push_back(o);
  }
  return out;
}

std::size_t github_runner_count(const ci::testing::ContractServer& server) {
  std::size_t n = 0;
  const auto state = server.state();
  for (const auto& [scope, runners] : state.at("runners").as_object()) n += runners.as_array().size();
  return n;
}

class CiRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIRERUN_REQUIRE_CONFORMANCE("github/webhooks");
    dir_ = std::make_unique<TempDir>("ci");
    write_text(dir_->path / "webhook.secret", kWebhookSecret);
    write_text(dir_->path / "github.token", kGithubToken);
    write_text(dir_->path / "gitlab.token", kGitlabToken);
    write_text(dir_->path / "app.pub.pem", "unused");
    ASSERT_TRUE(TestHost::tools_present()) << "ip and nft are missing: scripts/install-deps.sh installs them";
    host_ = std::make_unique<TestHost>("frt-ci", "10.77.13", TestHost::Options{});
    ASSERT_TRUE(host_->ok()) << "could not make the test host for the API servers";
    github_ = std::make_unique<ci::testing::ContractServer>(
        std::vector<std::string>{"github", conformance_dir().string(), "1", (dir_->path / "app.pub.pem").string(),
                                 kGithubToken},
        host_.get());
    ASSERT_TRUE(github_->running());
  }

  /// Daemon settings for the GitHub provider against the contract server.
  std::map<std::string, std::string> github_env(const std::string& runner_command = "/opt/runner/run.sh") const {
    return {{"FIRERUN_VM_START", "cold"},
            {"FIRERUN_CI_GITHUB_WEBHOOK_SECRET_FILE", (dir_->path / "webhook.secret").string()},
            {"FIRERUN_CI_GITHUB_API_URL", github_->endpoint()},
            {"FIRERUN_CI_GITHUB_TOKEN_FILE", (dir_->path / "github.token").string()},
            {"FIRERUN_CI_GITHUB_IMAGE", "ci-standin"},
            {"FIRERUN_CI_GITHUB_RUNNER_COMMAND", runner_command},
            {"FIRERUN_CI_GITHUB_RETRY_ATTEMPTS", "2"},
            {"FIRERUN_CI_GITHUB_RETRY_INITIAL_BACKOFF_MS", "50"},
            {"FIRERUN_CI_GITHUB_RETRY_MAX_BACKOFF_MS", "200"},
            {"FIRERUN_CI_NETWORK", "true"},
            {"FIRERUN_CI_NETWORK_ALLOW", host_->ip()},
            {"FIRERUN_LOG_LEVEL", "debug"}};
  }

  std::unique_ptr<Daemon> start_daemon(std::map<std::string, std::string> env, const std::string& state = "state") {
    auto d = std::make_unique<Daemon>(dir_->path / state, std::move(env));
    d->log_to(dir_->path / "firerund.log"); if (std::getenv("CI_TEST_LOG")) d->log_to(std::getenv("CI_TEST_LOG"));
    d->start();
    return d;
  }

  Reply queue_github_job(const Daemon& d, std::uint64_t job_id, const std::string& delivery) {
    const std::string body = workflow_job("queued", job_id);
    return post_webhook(d.port(), "/webhooks/github", body, github_headers("workflow_job", body, delivery));
  }

  /// The encoded JIT config the contract server issued for `runner_name`.
  std::string issued_jitconfig(const std::string& runner_name) const {
    for (const auto& r : requests_to(*github_, "POST", "generate-jitconfig$")) {
      const auto* response = r.at("response").as_object().if_contains("runner");
      if (response && response->at("name").as_string() == runner_name)
        return std::string(r.at("response").at("encoded_jit_config").as_string());
    }
    return {};
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<TestHost> host_;
  std::unique_ptr<ci::testing::ContractServer> github_;
};

TEST_F(CiRunnerTest, GithubWorkflowJobGetsAFreshVmWithItsJitRunnerThenCleanup) {
  auto d = start_daemon(github_env());
  const unsigned short port = d->port();

  // ping is answered; bad or missing signatures are 401 and queue nothing.
  const std::string ping = slurp(conformance_dir() / "github/webhooks/ping/payload.json");
  EXPECT_EQ(post_webhook(port, "/webhooks/github", ping, github_headers("ping", ping, "d-ping")).status, 200u);
  const std::string body = workflow_job("queued", 9001);
  auto forged = github_headers("workflow_job", body, "d-forged");
  forged["X-Hub-Signature-256"] = github_signature(body, "not-the-secret");
  EXPECT_EQ(post_webhook(port, "/webhooks/github", body, forged).status, 401u);
  auto unsigned_headers = github_headers("workflow_job", body, "d-unsigned");
  unsigned_headers.erase("X-Hub-Signature-256");
  EXPECT_EQ(post_webhook(port, "/webhooks/github", body, unsigned_headers).status, 401u);
  EXPECT_EQ(post_webhook(port, "/webhooks/github", "{not json", github_headers("workflow_job", "{not json", "d-bad")).status,
            400u);
  EXPECT_EQ(d->metric("firerun_queue_size") + d->metric("firerun_jobs_running"), 0);

  // The job: queued once; the redelivery is recognised.
  auto queued = post_webhook(port, "/webhooks/github", body, github_headers("workflow_job", body, "d-job"));
  ASSERT_EQ(queued.status, 202u) << queued.body;
  const std::string id(queued.json().at("job").as_string());
  EXPECT_EQ(id, "ci-github-9001-1");
  auto again = post_webhook(port, "/webhooks/github", body, github_headers("workflow_job", body, "d-job"));
  EXPECT_EQ(again.status, 200u);
  EXPECT_NE(again.body.find("duplicate"), std::string::npos) << again.body;
  // Not our labels: acknowledged, ignored.
  const std::string foreign = workflow_job("queued", 9002, "ubuntu-latest");
  auto ignored = post_webhook(port, "/webhooks/github", foreign, github_headers("workflow_job", foreign, "d-foreign"));
  EXPECT_EQ(ignored.status, 202u);
  EXPECT_NE(ignored.body.find("ignored"), std::string::npos) << ignored.body;

  auto job = wait_job(*d, id, 300s);
  ASSERT_EQ(job.at("status").as_string(), "completed") << json::serialize(job);
  const auto& result = job.at("result").as_object();
  EXPECT_EQ(result.at("exit_code").as_int64(), 0) << json::serialize(result);
  const std::string runner_name(result.at("runner").at("name").as_string());
  EXPECT_TRUE(runner_name.starts_with("firerun-9001-")) << runner_name;

  // The stand-in got exactly the JIT config GitHub issued, as a 0600 file, nowhere else.
  auto report = standin_report(job);
  const std::string jit = issued_jitconfig(runner_name);
  ASSERT_FALSE(jit.empty());
  EXPECT_EQ(report["credentials-sha256"], sha256_hex(jit));
  EXPECT_EQ(report["credentials-mode"], "600");
  EXPECT_EQ(report["credentials-on-cmdline"], "no");
  EXPECT_EQ(report["credentials-in-env"], "no");
  EXPECT_EQ(report["runner-name"], runner_name);

  // Over the guest network, the stand-in opened its broker session with the
  // credential from that JIT config (the server checks it).
  EXPECT_EQ(report["server-status"], "200") << "the runner VM could not reach its server";
  auto sessions = requests_to(*github_, "POST", "^/broker/session$");
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].at("status").as_int64(), 200);
  EXPECT_EQ(sessions[0].at("headers").at("user-agent").as_string(), "firerun-standin");

  // The runner was registered with the job's labels and removed afterwards.
  auto generated = requests_to(*github_, "POST", "/repos/Codertocat/Hello-World/actions/runners/generate-jitconfig$");
  ASSERT_EQ(generated.size(), 1u);
  auto sent = json::parse(generated[0].at("body").as_string()).as_object();
  EXPECT_EQ(sent.at("labels"), (json::array{"self-hosted", kStandinLabels}));
  EXPECT_EQ(requests_to(*github_, "DELETE", "/actions/runners/[0-9]+$").size(), 1u);
  EXPECT_EQ(github_runner_count(*github_), 0u);

  EXPECT_EQ(d->metric("firerun_ci_webhooks_received_total{provider=\"github\"}"), 7);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_rejected_total{provider=\"github\",reason=\"auth\"}"), 2);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_rejected_total{provider=\"github\",reason=\"malformed\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_duplicate_total{provider=\"github\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_runners_registered_total{provider=\"github\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_runners_removed_total{provider=\"github\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_queue_to_vm_seconds_count{provider=\"github\"}"), 1);
  EXPECT_EQ(d->metric("firerun_vms_active"), 0);
  EXPECT_TRUE(children_of(d->pid()).empty());
  EXPECT_EQ(d->terminate(), 0);

  const std::string log = slurp(dir_->path / "firerund.log");
  EXPECT_NE(log.find("runner " + runner_name), std::string::npos) << "the log names the runner";
  EXPECT_EQ(log.find(jit), std::string::npos) << "the JIT config must never be logged";
  EXPECT_EQ(log.find(kGithubToken), std::string::npos);
  EXPECT_EQ(log.find(kWebhookSecret), std::string::npos);
}

TEST_F(CiRunnerTest, GithubApiErrorsAndOutagesDelayButDoNotLoseTheJob) {
  auto d = start_daemon(github_env());
  // 500 twice and a 429 with Retry-After on registration, a 500 on removal, and the API down for 4 s.
  github_->control({{"fail", json::array{{{"status", 500}, {"times", 2}, {"path", "generate-jitconfig"}},
                                         {{"status", 429}, {"times", 1}, {"path", "generate-jitconfig"}, {"retry_after", 1}},
                                         {{"status", 500}, {"times", 1}, {"path", "/actions/runners/[0-9]+$"}}}},
                    {"down_for", 4}});
  auto queued = queue_github_job(*d, 9101, "d-faults");
  ASSERT_EQ(queued.status, 202u) << queued.body;
  auto job = wait_job(*d, std::string(queued.json().at("job").as_string()), 300s);
  ASSERT_EQ(job.at("status").as_string(), "completed") << json::serialize(job);
  EXPECT_EQ(job.at("result").at("exit_code").as_int64(), 0);
  EXPECT_GE(requests_to(*github_, "POST", "generate-jitconfig$").size(), 4u) << "500, 500, 429, then success";
  EXPECT_EQ(github_runner_count(*github_), 0u) << "the runner is removed despite the 500";
  EXPECT_EQ(d->metric("firerun_ci_runners_removed_total{provider=\"github\"}"), 1);
  EXPECT_EQ(d->terminate(), 0);
}

TEST_F(CiRunnerTest, GithubJobCancelledWhileItsVmBootsLeavesNothing) {
  auto d = start_daemon(github_env("/opt/runner/run.sh hold 600"));
  auto queued = queue_github_job(*d, 9201, "d-cancel-1");
  ASSERT_EQ(queued.status, 202u) << queued.body;
  const std::string id(queued.json().at("job").as_string());
  // Wait until its runner is registered (the VM is booting), then GitHub cancels the job.
  for (int i = 0; i < 600 && requests_to(*github_, "POST", "generate-jitconfig$").empty(); ++i)
    std::this_thread::sleep_for(50ms);
  const std::string cancelled = workflow_job("completed", 9201, kStandinLabels, "cancelled");
  auto r = post_webhook(d->port(), "/webhooks/github", cancelled, github_headers("workflow_job", cancelled, "d-cancel-2"));
  EXPECT_EQ(r.status, 202u) << r.body;
  auto job = wait_job(*d, id, 120s);
  EXPECT_EQ(job.at("status").as_string(), "cancelled") << json::serialize(job);
  EXPECT_EQ(github_runner_count(*github_), 0u) << "the cancelled job's runner is removed";
  EXPECT_EQ(d->metric("firerun_vms_active"), 0);
  EXPECT_TRUE(children_of(d->pid()).empty()) << "no QEMU may outlive a cancelled job";
  EXPECT_EQ(d->terminate(), 0);
}

TEST_F(CiRunnerTest, ACrashBetweenDedupeAndEnqueueNeitherLosesNorDoublesTheJob) {
  // ci.db (deliveries) and jobs.db (jobs) commit separately. The daemon is
  // killed at each step between them; the provider then redelivers.
  struct Case {
    const char* crash_at;
    std::uint64_t job_id;
    unsigned redelivery_status;  // 202: queued now; 200: it had been queued
  };
  for (const Case c : {Case{"ci.after_dedupe", 9401, 202u}, Case{"ci.after_enqueue", 9402, 200u}}) {
    const std::string delivery = std::string("d-") + c.crash_at;
    const std::string state = std::string("state-") + c.crash_at;
    {
      auto env = github_env();
      env["FIRERUN_TEST_CRASH_AT"] = c.crash_at;
      auto d = start_daemon(env, state);
      EXPECT_THROW(queue_github_job(*d, c.job_id, delivery), std::runtime_error) << c.crash_at << ": it died answering";
      d->kill9();  // reaps it
    }
    auto d = start_daemon(github_env(), state);
    auto again = queue_github_job(*d, c.job_id, delivery);
    EXPECT_EQ(again.status, c.redelivery_status) << c.crash_at << ": " << again.body;
    const std::string id = "ci-github-" + std::to_string(c.job_id) + "-1";
    auto job = wait_job(*d, id, 300s);
    EXPECT_EQ(job.at("status").as_string(), "completed") << c.crash_at << ": " << json::serialize(job);
    EXPECT_EQ(job.at("attempts"), 1) << c.crash_at;
    EXPECT_EQ(d->get("/v1/jobs/" + id + "-r1").status, 404u) << c.crash_at << ": never a second job";
    auto third = queue_github_job(*d, c.job_id, delivery);
    EXPECT_EQ(third.status, 200u) << c.crash_at;
    EXPECT_NE(third.body.find("duplicate"), std::string::npos) << third.body;
    EXPECT_EQ(requests_to(*github_, "POST", "generate-jitconfig$").size(), c.job_id == 9401 ? 1u : 2u)
        << c.crash_at << ": one runner per job";
    EXPECT_EQ(d->terminate(), 0);
  }
}

TEST_F(CiRunnerTest, GithubKillNineMidJobThenRestartRunsItAgainAndRemovesTheOrphanRunner) {
  std::set<int> vmm_pids;
  std::string id;
  {
    auto d = start_daemon(github_env("/opt/runner/run.sh hold 600"));
    auto queued = queue_github_job(*d, 9301, "d-crash");
    ASSERT_EQ(queued.status, 202u) << queued.body;
    id = std::string(queued.json().at("job").as_string());
    // The runner is running inside its VM.
    for (int i = 0; i < 1200 && d->metric("firerun_ci_queue_to_vm_seconds_count{provider=\"github\"}") < 1; ++i)
      std::this_thread::sleep_for(100ms);
    ASSERT_EQ(github_runner_count(*github_), 1u);
    std::this_thread::sleep_for(1s);
    vmm_pids = children_of(d->pid());
    EXPECT_EQ(vmm_pids.size(), 1u);
    d->kill9();
  }
  for (int i = 0; i < 100; ++i) {
    bool any = false;
    for (int pid : vmm_pids) any = any || process_alive(pid);
    if (!any) break;
    std::this_thread::sleep_for(100ms);
  }
  for (int pid : vmm_pids) EXPECT_FALSE(process_alive(pid)) << "QEMU " << pid << " outlived the killed daemon";

  auto env = github_env();
  env["FIRERUN_CI_HOUSEKEEPING_INTERVAL_MS"] = "500";
  auto d = start_daemon(env);
  auto old = wait_job(*d, id, 60s);
  EXPECT_EQ(old.at("status").as_string(), "failed") << "the interrupted attempt";
  auto job = wait_job(*d, id + "-r1", 300s);
  ASSERT_EQ(job.at("status").as_string(), "completed") << json::serialize(job);
  EXPECT_EQ(job.at("result").at("exit_code").as_int64(), 0);
  for (int i = 0; i < 100 && github_runner_count(*github_) > 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(github_runner_count(*github_), 0u) << "the dead VM's runner and the new one are both removed";
  EXPECT_EQ(requests_to(*github_, "POST", "generate-jitconfig$").size(), 2u);
  EXPECT_TRUE(children_of(d->pid()).empty());
  EXPECT_EQ(d->terminate(), 0);
}

TEST_F(CiRunnerTest, WebhookLimitsShapesAndSources) {
  auto env = github_env();
  env["FIRERUN_SCHEDULER_HOST_VCPUS"] = "2";
  env["FIRERUN_CI_MAX_BODY_BYTES"] = "100000";
  env["FIRERUN_CI_WEBHOOK_RATE_LIMIT_PER_SECOND"] = "0.01";
  env["FIRERUN_CI_WEBHOOK_RATE_LIMIT_BURST"] = "4";
  auto d = start_daemon(env);
  // Over the label policy, and within it but more than this host has: reported, not dropped.
  const std::string huge = workflow_job("queued", 9401, "firerun/cpu=64/ram=8");
  auto r1 = post_webhook(d->port(), "/webhooks/github", huge, github_headers("workflow_job", huge, "d-huge"));
  EXPECT_EQ(r1.status, 422u) << r1.body;
  const std::string big = workflow_job("queued", 9402, "firerun/cpu=8/ram=1/image=ci-standin");
  auto r2 = post_webhook(d->port(), "/webhooks/github", big, github_headers("workflow_job", big, "d-big"));
  EXPECT_EQ(r2.status, 422u) << r2.body;
  EXPECT_NE(r2.body.find("vCPU"), std::string::npos) << r2.body;
  // A body over ci.max_body_bytes.
  const std::string padded = std::string(200000, ' ') + workflow_job("queued", 9403);
  auto r3 = post_webhook(d->port(), "/webhooks/github", padded, github_headers("workflow_job", padded, "d-pad"));
  EXPECT_EQ(r3.status, 413u);
  // The burst of 4 is spent: rate limited with Retry-After.
  const std::string ping = slurp(conformance_dir() / "github/webhooks/ping/payload.json");
  auto r4 = post_webhook(d->port(), "/webhooks/github", ping, github_headers("ping", ping, "d-ping-1"));
  auto r5 = post_webhook(d->port(), "/webhooks/github", ping, github_headers("ping", ping, "d-ping-2"));
  EXPECT_EQ(r4.status, 200u);
  EXPECT_EQ(r5.status, 429u);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_rejected_total{provider=\"github\",reason=\"unschedulable\"}"), 2);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_rejected_total{provider=\"github\",reason=\"rate_limited\"}"), 1);
  EXPECT_EQ(d->metric("firerun_queue_size") + d->metric("firerun_jobs_running"), 0);
  EXPECT_EQ(d->terminate(), 0);

  // A source outside ci.allow_cidrs is refused before anything else.
  env["FIRERUN_CI_ALLOW_CIDRS"] = "192.30.252.0/22, 2001:db8::/32";
  auto fenced = start_daemon(env, "fenced");
  auto r6 = post_webhook(fenced->port(), "/webhooks/github", ping, github_headers("ping", ping, "d-ping-3"));
  EXPECT_EQ(r6.status, 403u);
  EXPECT_EQ(fenced->metric("firerun_ci_webhooks_rejected_total{provider=\"github\",reason=\"source\"}"), 1);
  EXPECT_EQ(fenced->terminate(), 0);
}

TEST_F(CiRunnerTest, GitlabJobHookGetsARunSingleRunnerThenCleanup) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/webhooks");
  ci::testing::ContractServer gitlab(
      std::vector<std::string>{"gitlab", conformance_dir().string(), kGitlabToken, "registration-token-unused"},
      host_.get());
  ASSERT_TRUE(gitlab.running());
  auto hook = read_json(conformance_dir() / "gitlab/webhooks/job-hook.json").as_object();
  const std::uint64_t project = hook.at("project_id").to_number<std::uint64_t>();
  const std::uint64_t build = 77001;
  gitlab.control({{"jobs", json::array{{{"project_id", project},
                                        {"id", build},
                                        {"status", "pending"},
                                        {"tag_list", json::array{kStandinLabels}}}}}});
  hook["build_id"] = build;
  hook["build_status"] = "pending";
  hook["runner"] = nullptr;
  const std::string body = json::serialize(hook);

  auto env = github_env();
  env.insert({{"FIRERUN_CI_GITLAB_WEBHOOK_SECRET_FILE", (dir_->path / "webhook.secret").string()},
              {"FIRERUN_CI_GITLAB_URL", gitlab.endpoint()},
              {"FIRERUN_CI_GITLAB_TOKEN_FILE", (dir_->path / "gitlab.token").string()},
              {"FIRERUN_CI_GITLAB_IMAGE", "ci-standin"},
              {"FIRERUN_CI_GITLAB_RUNNER_COMMAND", "/opt/runner/run.sh"},
              {"FIRERUN_CI_GITLAB_RETRY_INITIAL_BACKOFF_MS", "50"}});
  auto d = start_daemon(env);
  auto headers = [&](const std::string& token, const std::string& uuid) {
    return std::map<std::string, std::string>{
        {"X-Gitlab-Event", "Job Hook"}, {"X-Gitlab-Token", token}, {"Idempotency-Key", uuid}};
  };
  EXPECT_EQ(post_webhook(d->port(), "/webhooks/gitlab", body, headers("wrong-token", "u-0")).status, 401u);
  auto queued = post_webhook(d->port(), "/webhooks/gitlab", body, headers(kWebhookSecret, "u-1"));
  ASSERT_EQ(queued.status, 202u) << queued.body;
  EXPECT_EQ(post_webhook(d->port(), "/webhooks/gitlab", body, headers(kWebhookSecret, "u-1")).status, 200u)
      << "redelivery (same Idempotency-Key)";
  auto job = wait_job(*d, std::string(queued.json().at("job").as_string()), 300s);
  ASSERT_EQ(job.at("status").as_string(), "completed") << json::serialize(job);
  EXPECT_EQ(job.at("result").at("exit_code").as_int64(), 0);

  // The runner was created with the job's tags; the stand-in got its token as a file.
  std::string token;
  for (const auto& r : requests_to(gitlab, "POST", "^/api/v4/user/runners$")) {
    auto sent = json::parse(r.at("body").as_string()).as_object();
    EXPECT_EQ(sent.at("tag_list"), (json::array{kStandinLabels}));
    EXPECT_EQ(sent.at("project_id").to_number<std::uint64_t>(), project);
    token = std::string(r.at("response").at("token").as_string());
  }
  ASSERT_FALSE(token.empty());
  auto report = standin_report(job);
  EXPECT_EQ(report["credentials-sha256"], sha256_hex(token));
  EXPECT_EQ(report["credentials-on-cmdline"], "no");
  EXPECT_EQ(report["credentials-in-env"], "no");
  // From its VM, over the guest network: the runner verified its token with GitLab.
  EXPECT_EQ(report["server-status"], "200") << "the runner VM could not reach its server";
  auto verified = requests_to(gitlab, "POST", "^/api/v4/runners/verify$");
  ASSERT_EQ(verified.size(), 1u);
  EXPECT_EQ(verified[0].at("status").as_int64(), 200);
  EXPECT_EQ(json::parse(verified[0].at("body").as_string()).at("token").as_string(), token);
  EXPECT_EQ(requests_to(gitlab, "DELETE", "^/api/v4/runners/[0-9]+$").size(), 1u);
  EXPECT_TRUE(gitlab.state().at("runners").as_array().empty());
  EXPECT_EQ(d->metric("firerun_ci_runners_registered_total{provider=\"gitlab\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_runners_removed_total{provider=\"gitlab\"}"), 1);
  EXPECT_EQ(d->metric("firerun_ci_webhooks_rejected_total{provider=\"gitlab\",reason=\"auth\"}"), 1);
  EXPECT_EQ(d->terminate(), 0);
  EXPECT_EQ(slurp(dir_->path / "firerund.log").find(token), std::string::npos) << "runner tokens are never logged";
}

}  // namespace
}  // namespace firerun::testing
