// `firerun fleet ...` end to end: the built CLI binary as a child process,
// talking to fake_ec2.py (which validates every request against the EC2
// model) or to the static provider; spot-event over every conformance file.
#include "ec2_test_support.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>

#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;
using firerun::testing::FakeEc2;
using firerun::testing::kTestAccessKey;
using firerun::testing::kTestSecret;
using firerun::testing::read_text;

namespace {

constexpr const char* kJoinToken = "join-token-that-must-never-be-printed";

struct CliResult {
  int rc = -1;
  std::string out;
  std::string err;
};

class FleetCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("firerun-fleet-cli-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // No output of any command may contain a secret.
    for (const auto& r : results_) {
      EXPECT_EQ(r.out.find(kTestSecret), std::string::npos);
      EXPECT_EQ(r.err.find(kTestSecret), std::string::npos);
      EXPECT_EQ(r.out.find(kJoinToken), std::string::npos);
      EXPECT_EQ(r.err.find(kJoinToken), std::string::npos);
    }
    fs::remove_all(dir_);
  }

  // Runs the CLI with a clean environment: fake credentials, no IMDS, no ~/.aws.
  CliResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& extra_env = {}) {
    std::map<std::string, std::string> env = {{"PATH", "/usr/bin:/bin"},
                                              {"HOME", dir_.string()},
                                              {"AWS_ACCESS_KEY_ID", kTestAccessKey},
                                              {"AWS_SECRET_ACCESS_KEY", kTestSecret},
                                              {"AWS_EC2_METADATA_DISABLED", "true"},
                                              {"FIRERUN_JOIN_TOKEN", kJoinToken}};
    if (const char* asan = std::getenv("ASAN_OPTIONS")) env["ASAN_OPTIONS"] = asan;
    for (const auto& [k, v] : extra_env) env[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = {FIRERUN_CLI_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    const auto out_path = dir_ / "stdout", err_path = dir_ / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    CliResult r;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) == 0 && pid > 0) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    posix_spawn_file_actions_destroy(&actions);
    r.out = read_text(out_path);
    r.err = read_text(err_path);
    results_.push_back(r);
    return r;
  }

  fs::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  // An aws fleet against the fake. Without a launch template the provider uses RunInstances per type.
  fs::path aws_config(const FakeEc2& ec2, const std::string& pool = "ci", const std::string& extra_options = "") {
    return write(pool + ".yaml", "provider: aws\n"
                                 "options:\n"
                                 "  region: us-east-1\n"
                                 "  endpoint: " + ec2.endpoint() + "\n" + extra_options +
                                 "pool:\n"
                                 "  name: " + pool + "\n"
                                 "  min_hosts: 1\n"
                                 "  max_hosts: 4\n"
                                 "  jobs_per_host: 2\n"
                                 "request:\n"
                                 "  vcpus: {min: 2, max: 4}\n"
                                 "  memory_mib: {min: 4096}\n"
                                 "  families: [m5]\n"
                                 "  tags: {team: build}\n"
                                 "user_data:\n"
                                 "  values:\n"
                                 "    firerund_url: https://downloads.example.com/firerund\n"
                                 "    firerund_sha256: \"" + std::string(64, '0') + "\"\n"
                                 "    fleet_queue: redis://queue.internal:6379/0\n"
                                 "    queue_password_parameter: /firerun/" + pool + "/queue-password\n"
                                 "    fleet_key_parameter: /firerun/" + pool + "/fleet-key\n");
  }

  static void start(const FakeEc2& ec2) {
    ASSERT_FALSE(ec2.endpoint().empty()) << "fake_ec2.py did not start";
    ec2.control({{"secret", kTestSecret}});  // the fake now checks every signature
  }

  static std::vector<std::string> actions(const boost::json::array& requests) {
    std::vector<std::string> out;
    for (const auto& r : requests) out.emplace_back(r.at("action").as_string());
    return out;
  }

  static std::vector<std::string> ids_in(const std::string& json_hosts) {
    std::vector<std::string> ids;
    const auto hosts = boost::json::parse(json_hosts);
    for (const auto& h : hosts.as_array()) ids.emplace_back(h.at("id").as_string());
    return ids;
  }

  fs::path dir_;
  std::vector<CliResult> results_;
};

std::string param(const boost::json::value& request, const char* name) {
  const auto* v = request.at("params").as_object().if_contains(name);
  return v ? std::string(v->as_string()) : std::string();
}

std::string base64_decode(std::string_view in) {
  static const std::string table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    auto pos = table.find(c);
    if (pos == std::string::npos) break;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

TEST_F(FleetCli, ProvisionFallsBackToOnDemandWhenSpotHasNoCapacity) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  ec2.control(boost::json::parse(
                  R"({"fail": [{"action": "RunInstances", "error": "InsufficientInstanceCapacity", "market": "spot",
                                "times": 10}]})")
                  .as_object());
  auto r = run({"fleet", "provision", "--config", aws_config(ec2, "ci", "  image_id: ami-0123456789abcdef0\n").string(),
                "--count", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("0 spot, 2 on-demand"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("capacity breaker m5.large/*/spot: open"), std::string::npos) << r.err;
  std::size_t rows = 0;
  for (std::size_t pos = 0; (pos = r.out.find(" on-demand ", pos)) != std::string::npos; ++pos) ++rows;
  EXPECT_EQ(rows, 2u) << r.out;

  // The fake saw spot attempts first, then one on-demand RunInstances for both hosts.
  std::vector<std::string> markets;
  std::string user_data;
  for (const auto& req : ec2.requests()) {
    if (req.at("action").as_string() != "RunInstances") continue;
    markets.push_back(param(req, "InstanceMarketOptions.MarketType").empty() ? "on-demand" : "spot");
    user_data = param(req, "UserData");
    EXPECT_EQ(param(req, "MetadataOptions.HttpTokens"), "required");
  }
  ASSERT_GE(markets.size(), 2u);
  EXPECT_EQ(markets.front(), "spot");
  EXPECT_EQ(markets.back(), "on-demand");
  EXPECT_EQ(std::count(markets.begin(), markets.end(), "on-demand"), 1);
  // The rendered user-data went to EC2 and holds no secret (the host fetches its own at boot).
  auto decoded = base64_decode(user_data);
  EXPECT_TRUE(decoded.starts_with("#cloud-config\n")) << decoded;
  EXPECT_NE(decoded.find("aws ssm get-parameter"), std::string::npos) << decoded;
  EXPECT_EQ(decoded.find(kJoinToken), std::string::npos);
}

TEST_F(FleetCli, LaunchTemplateUsesCreateFleetThenOnDemand) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  ec2.control(boost::json::parse(R"({"fleet_no_capacity": ["m5.large", "m5.xlarge"]})").as_object());
  auto r = run({"fleet", "provision", "--config",
                aws_config(ec2, "ci", "  launch_template_name: firerun-host\n").string(), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto hosts = boost::json::parse(r.out).as_array();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].at("lifecycle").as_string(), "on-demand");
  EXPECT_EQ(hosts[0].at("tags").at("firerun:pool").as_string(), "ci");
  auto seen = actions(ec2.requests());
  auto fleet = std::find(seen.begin(), seen.end(), "CreateFleet");
  ASSERT_NE(fleet, seen.end());
  EXPECT_NE(std::find(fleet, seen.end(), "RunInstances"), seen.end());
}

TEST_F(FleetCli, HostsListsOnlyThePool) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  const auto ci = aws_config(ec2, "ci", "  image_id: ami-0123456789abcdef0\n");
  const auto other = aws_config(ec2, "other", "  image_id: ami-0123456789abcdef0\n");
  auto made = run({"fleet", "provision", "--config", ci.string(), "--count", "2", "--json"});
  ASSERT_EQ(made.rc, 0) << made.err;
  ASSERT_EQ(run({"fleet", "provision", "--config", other.string(), "--json"}).rc, 0);

  auto listed = run({"fleet", "hosts", "--config", ci.string(), "--json"});
  ASSERT_EQ(listed.rc, 0) << listed.err;
  auto want = ids_in(made.out), got = ids_in(listed.out);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);

  auto table = run({"fleet", "hosts", "--config", ci.string()});
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_TRUE(table.out.starts_with("ID ")) << table.out;
  for (const auto& id : want) EXPECT_NE(table.out.find(id), std::string::npos);
}

TEST_F(FleetCli, TerminateRemovesHostsFromThePool) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  const auto cfg = aws_config(ec2, "ci", "  image_id: ami-0123456789abcdef0\n");
  auto made = run({"fleet", "provision", "--config", cfg.string(), "--count", "2", "--json"});
  ASSERT_EQ(made.rc, 0) << made.err;
  auto ids = ids_in(made.out);
  auto done = run({"fleet", "terminate", "--config", cfg.string(), ids[0]});
  ASSERT_EQ(done.rc, 0) << done.err;
  EXPECT_EQ(done.out, "terminated " + ids[0] + "\n");
  auto listed = run({"fleet", "hosts", "--config", cfg.string(), "--json"});
  EXPECT_EQ(ids_in(listed.out), std::vector<std::string>{ids[1]});
  auto all = run({"fleet", "hosts", "--config", cfg.string(), "--json", "--all"});
  EXPECT_EQ(ids_in(all.out).size(), 2u);
  bool sent = false;
  for (const auto& req : ec2.requests())
    sent = sent || (req.at("action").as_string() == "TerminateInstances" && param(req, "InstanceId.1") == ids[0]);
  EXPECT_TRUE(sent);

  // An unknown id is the provider's error: exit 1 with EC2's typed message.
  auto unknown = run({"fleet", "terminate", "--config", cfg.string(), "i-0000000000000dead"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_NE(unknown.err.find("[not_found]"), std::string::npos) << unknown.err;
}

TEST_F(FleetCli, ReconcileDryRunSendsNoMutatingRequest) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  const auto cfg = aws_config(ec2, "ci", "  image_id: ami-0123456789abcdef0\n");
  auto dry = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "5", "--dry-run"});
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_EQ(dry.out, "dry-run: would launch 3 host(s) (desired 3, active 0): 5 queued + 0 running job(s) at 2 per host "
                     "(below min_hosts)\n");
  for (const auto& a : actions(ec2.requests())) EXPECT_TRUE(a.starts_with("Describe")) << a;

  auto applied = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "5"});
  ASSERT_EQ(applied.rc, 0) << applied.err;
  EXPECT_NE(applied.out.find("applied: launch 3 host(s)"), std::string::npos) << applied.out;
  auto hosts = ids_in(run({"fleet", "hosts", "--config", cfg.string(), "--json"}).out);
  ASSERT_EQ(hosts.size(), 3u);

  // At target: the plan says so and changes nothing.
  const auto before = ec2.requests().size();
  auto steady = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "5", "--dry-run"});
  ASSERT_EQ(steady.rc, 0) << steady.err;
  EXPECT_TRUE(steady.out.starts_with("dry-run: no change (desired 3, active 3)")) << steady.out;
  auto after = ec2.requests();
  for (std::size_t i = before; i < after.size(); ++i)
    EXPECT_TRUE(std::string(after[i].at("action").as_string()).starts_with("Describe"));
}

TEST_F(FleetCli, ProviderErrorsExitOne) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  start(ec2);
  ec2.control(boost::json::parse(R"({"fail": [{"action": "DescribeInstances", "error": "UnauthorizedOperation"}]})")
                  .as_object());
  auto r = run({"fleet", "hosts", "--config", aws_config(ec2, "ci", "  image_id: ami-1\n").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("UnauthorizedOperation"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[auth]"), std::string::npos) << r.err;
}

TEST_F(FleetCli, StaticProvider) {
  const auto cfg = write("static.yaml", R"(provider: static
options:
  hosts_yaml:
    hosts:
      - {id: build-1, address: 10.0.0.5, vcpus: 8, memory_mib: 16384, tags: {"firerun:pool": ci}}
      - {id: build-2, address: 10.0.0.6, vcpus: 8, memory_mib: 16384, tags: {"firerun:pool": ci}}
      - {id: other-1, address: 10.0.0.7, vcpus: 8, memory_mib: 16384}
pool: {name: ci}
request:
  capacity: on_demand_only
)");
  auto hosts = run({"fleet", "hosts", "--config", cfg.string(), "--json"});
  ASSERT_EQ(hosts.rc, 0) << hosts.err;
  EXPECT_EQ(ids_in(hosts.out), (std::vector<std::string>{"build-1", "build-2"}));
  auto one = run({"fleet", "provision", "--config", cfg.string(), "--json"});
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_EQ(ids_in(one.out).size(), 1u);
  auto too_many = run({"fleet", "provision", "--config", cfg.string(), "--count", "5"});
  EXPECT_EQ(too_many.rc, 1);
  EXPECT_NE(too_many.err.find("insufficient capacity"), std::string::npos) << too_many.err;
  auto released = run({"fleet", "terminate", "--config", cfg.string(), "build-2"});
  EXPECT_EQ(released.rc, 0) << released.err;
  auto unknown = run({"fleet", "terminate", "--config", cfg.string(), "nope"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_NE(unknown.err.find("no host 'nope'"), std::string::npos) << unknown.err;
  auto dry = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "9", "--dry-run"});
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_TRUE(dry.out.starts_with("dry-run: would launch 1 host(s) (desired 3, active 2)")) << dry.out;
  // Hosts named idle (past the grace period) are the ones a scale-in would remove.
  auto shrink = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "0", "--dry-run", "--idle",
                     "build-2", "--idle", "build-1"});
  ASSERT_EQ(shrink.rc, 0) << shrink.err;
  EXPECT_TRUE(shrink.out.starts_with("dry-run: would terminate build-1, build-2 (desired 0, active 2)")) << shrink.out;
  auto not_in_pool = run({"fleet", "reconcile", "--config", cfg.string(), "--queue-depth", "0", "--idle", "other-1"});
  EXPECT_EQ(not_in_pool.rc, 2);
  EXPECT_NE(not_in_pool.err.find("--idle other-1"), std::string::npos) << not_in_pool.err;
  // Static hosts cannot be bootstrapped: user_data for a static fleet is a configuration error.
  const auto with_ud = write("static-ud.yaml", read_text(cfg) + "user_data: {template: \"#cloud-config\\nruncmd: []\\n\"}\n");
  auto rejected = run({"fleet", "provision", "--config", with_ud.string()});
  EXPECT_EQ(rejected.rc, 2);
  EXPECT_NE(rejected.err.find("unknown option 'user_data'"), std::string::npos) << rejected.err;
}

TEST_F(FleetCli, MalformedConfigExitsTwoNamingTheKey) {
  struct Case {
    std::string yaml;
    std::string names;
  };
  const std::string pool = "pool: {name: ci}\n";
  const std::vector<Case> cases = {
      {"pool: {name: ci, max_hosts: lots}\n", "pool.max_hosts: expected an unsigned integer (line 1)"},
      {"pool: {name: ci, maxhosts: 3}\n", "pool.maxhosts: unknown key"},
      {"pool: {name: ci, min_hosts: 5, max_hosts: 2}\n", "pool.max_hosts: is below min_hosts"},
      {"provider: static\n", "pool: is required"},
      {"pool: {name: 'c i'}\n", "pool.name: must be"},
      {pool + "provider: nimbus\n", "provider: no backend named 'nimbus'"},
      {pool + "request: {capacity: cheap}\n", "request.capacity: must be"},
      {pool + "request: {vcpus: {min: 4, max: 2}}\n", "vcpus.max is below vcpus.min"},
      {pool + "request: {tags: {'firerun:pool': x}}\n", "request.tags.firerun:pool"},
      {pool + "request: {families: [M5!]}\n", "instance family"},
      {pool + "request: {disk_gib: 0}\n", "request.disk_gib: must be between 1 and 16384"},
      {pool + "user_data: {values: {join_token: hunter2}}\n", "user_data.values.join_token"},
      {pool + "user_data: {values: {queue_password: hunter2}}\n", "secrets never go into user-data"},
      {pool + "user_data: {join_token_env: X}\n", "user_data.join_token_env: no longer supported"},
      {pool + "user_data: {template_file: missing.yaml}\n", "user_data.template_file"},
      {pool + "options: {hosts_file: /nonexistent/hosts.yaml}\n", "options: static provider: cannot open hosts_file"},
      {pool + "options: {secret_sauce: hunter2}\n", "options: static provider: unknown option 'secret_sauce'"},
      {pool + "provider: aws\noptions: {region: us-east-1, endpoint: 'http://127.0.0.1:9', image_id: ami-1, "
              "bogus: hunter2}\n",
       "unknown option 'bogus'"},
      {"pool: [\n", "invalid YAML at line"},
      {std::string(100, '[') + "\n", "nested too deeply"},
      {"- just\n- a list\n", "(document): expected a mapping"},
      // Aliases multiply: re-emitting this option would take a million nodes.
      {pool + "options:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n  f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
       "options.e: too large"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const auto cfg = write("bad.yaml", c.yaml);
    auto r = run({"fleet", "hosts", "--config", cfg.string()});
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad.yaml"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;  // values are never echoed
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  auto missing = run({"fleet", "hosts", "--config", (dir_ / "nope.yaml").string()});
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("nope.yaml"), std::string::npos);
}

TEST_F(FleetCli, UserDataIsRenderedWithoutAnySecret) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 ec2;
  const auto cfg = aws_config(ec2, "ci", "  image_id: ami-1\n");
  auto r = run({"fleet", "user-data", "--config", cfg.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("#cloud-config\n")) << r.out;
  EXPECT_NE(r.out.find("queue: \"redis://queue.internal:6379/0\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("queue_password_file: /etc/firerun/queue-password"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kJoinToken), std::string::npos) << "the environment never reaches user-data";

  // An operator's own template (relative to the fleet file); placeholders are checked.
  write("custom.yaml", "#cloud-config\nruncmd:\n  - [echo, {{pool}}]\n");
  const auto custom = write("custom-fleet.yaml", "pool: {name: ci}\nuser_data: {template_file: custom.yaml, "
                                                 "values: {pool: ci}}\n");
  auto rendered = run({"fleet", "user-data", "--config", custom.string()});
  ASSERT_EQ(rendered.rc, 0) << rendered.err;
  EXPECT_EQ(rendered.out, "#cloud-config\nruncmd:\n  - [echo, \"ci\"]\n");
  const auto unused = write("unused-fleet.yaml", "pool: {name: ci}\nuser_data: {template_file: custom.yaml, "
                                                 "values: {pool: ci, extra: x}}\n");
  auto bad = run({"fleet", "user-data", "--config", unused.string()});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("value 'extra' is not used"), std::string::npos) << bad.err;
}

TEST_F(FleetCli, SpotEventEveryConformanceFile) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/events");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(firerun::testing::aws_conformance() / "events")) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".md") continue;
    SCOPED_TRACE(name);
    auto r = run({"fleet", "spot-event", "--json", entry.path().string()});
    // Every documented notice is recognised: a spot interruption (0) or clearly not one (3).
    ASSERT_TRUE(r.rc == 0 || r.rc == 3) << r.rc << " " << r.err;
    const auto body = read_text(entry.path());
    bool is_warning = name.starts_with("imds-spot-");
    if (entry.path().extension() == ".json" && !name.starts_with("imds-")) {
      auto json = boost::json::parse(body).as_object();
      is_warning = json.at("detail-type").as_string() == "EC2 Spot Instance Interruption Warning";
    }
    if (!is_warning) {
      EXPECT_EQ(r.rc, 3);
      EXPECT_NE(r.err.find("not a spot interruption"), std::string::npos) << r.err;
      ++checked;
      continue;
    }
    ASSERT_EQ(r.rc, 0) << r.err;
    auto out = boost::json::parse(r.out).as_object();
    if (name.starts_with("imds-spot-instance-action-")) {
      auto action = std::string(boost::json::parse(body).at("action").as_string());
      EXPECT_EQ(out.at("action").as_string(), action);
      EXPECT_EQ(out.at("time").as_string(), boost::json::parse(body).at("time").as_string());
    } else if (name.starts_with("imds-")) {
      EXPECT_EQ(out.at("action").as_string(), "terminate");
      auto text = body.substr(0, body.find_last_not_of("\r\n") + 1);
      EXPECT_EQ(out.at("time").as_string(), text);
    } else {
      auto json = boost::json::parse(body).as_object();
      EXPECT_EQ(out.at("instance_id").as_string(), json.at("detail").at("instance-id").as_string());
      EXPECT_EQ(out.at("region").as_string(), json.at("region").as_string());
    }
    ++checked;
  }
  EXPECT_GE(checked, 7);

  // Garbage is a parse error (exit 1) that does not echo the input; a missing file is exit 2.
  auto garbage = run({"fleet", "spot-event", write("garbage.json", "{\"detail-type\": [hunter2").string()});
  EXPECT_EQ(garbage.rc, 1);
  EXPECT_EQ(garbage.err.find("hunter2"), std::string::npos);
  EXPECT_EQ(run({"fleet", "spot-event", (dir_ / "absent.json").string()}).rc, 2);
  auto endless = run({"fleet", "spot-event", "/dev/zero"});  // bounded read, no hang
  EXPECT_EQ(endless.rc, 1);
  EXPECT_NE(endless.err.find("larger than 1 MiB"), std::string::npos) << endless.err;
}

}  // namespace
