// The provider registry, the static backend (YAML errors name the key),
// the capacity breaker, host user-data and the pool reconciler.
#include "cloud/capacity_breaker.h"
#include "cloud/reconciler.h"
#include "cloud/static_provider.h"
#include "cloud/user_data.h"
#include "firerun/cloud.h"
#include "firerun/text.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

using namespace firerun::cloud;
using firerun::Errc;
using firerun::base64_encode;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHosts = R"(hosts:
  - id: small-1
    address: 10.0.0.1
    vcpus: 2
    memory_mib: 4096
    instance_type: m5.large
  - id: big-1
    address: 10.0.0.2
    vcpus: 16
    memory_mib: 65536
    instance_type: m5.4xlarge
    availability_zone: rack-2
    tags: {owner: ci}
  - id: arm-1
    address: 10.0.0.3
    vcpus: 8
    memory_mib: 16384
    architecture: arm64
)";

std::unique_ptr<CloudProvider> static_from(const std::string& yaml) {
  CloudProviderRegistry registry;
  EXPECT_TRUE(register_builtin_cloud_providers(registry));
  auto factory = registry.find("static");
  EXPECT_TRUE(factory);
  auto p = (*factory)->create({{{"hosts_yaml", yaml}}});
  EXPECT_TRUE(p) << p.error().what();
  return p ? std::move(*p) : nullptr;
}

}  // namespace

TEST(CloudRegistry, BuiltinsByName) {
  CloudProviderRegistry registry;
  ASSERT_TRUE(register_builtin_cloud_providers(registry));
  auto names = registry.list();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].name, "aws");
  EXPECT_EQ(names[1].name, "static");
  EXPECT_TRUE(registry.find(kDefaultCloudProvider));
  EXPECT_EQ(registry.find("gcp").error(), Errc::not_found);
  EXPECT_EQ(register_builtin_cloud_providers(registry).error(), Errc::already_exists);
  auto aws = (*registry.find("aws"))->create({{{"region", "us-east-1"}, {"bogus", "1"}}});
  ASSERT_FALSE(aws);
  EXPECT_NE(aws.error().message().find("unknown option 'bogus'"), std::string::npos);
  auto no_launch = (*registry.find("aws"))->create({{{"region", "us-east-1"}}});
  ASSERT_FALSE(no_launch);
  EXPECT_EQ(no_launch.error(), Errc::invalid_argument);
}

TEST(StaticProvider, ProvisionClaimsFittingHostsAndReleases) {
  auto p = static_from(kHosts);
  ASSERT_TRUE(p);
  HostRequest req;
  req.vcpus = {8, 0};
  req.memory_mib = {8192, 0};
  req.tags = {{"pool", "ci"}};
  auto got = p->provision(req);
  ASSERT_TRUE(got) << got.error().what();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, "big-1");
  EXPECT_EQ((*got)[0].tags.at("pool"), "ci");
  EXPECT_EQ((*got)[0].availability_zone, "rack-2");

  auto again = p->provision(req);  // big-1 is claimed now, arm-1 has the wrong architecture
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::limit_exceeded);
  EXPECT_NE(again.error().message().find("insufficient capacity: static provider has 0 free host(s) of 1 fitting"),
            std::string::npos);

  req.architecture = Architecture::arm64;
  auto arm = p->provision(req);
  ASSERT_TRUE(arm);
  EXPECT_EQ((*arm)[0].id, "arm-1");

  ASSERT_TRUE(p->terminate({"big-1"}));
  req.architecture = Architecture::x86_64;
  EXPECT_TRUE(p->provision(req));
  EXPECT_EQ(p->terminate({"nope"}).error(), Errc::not_found);

  req = {};
  req.instance_families = {"c5"};
  EXPECT_FALSE(p->provision(req));
  req.capacity = CapacityPreference::spot_only;
  EXPECT_EQ(p->provision(req).error(), Errc::unsupported);
}

TEST(StaticProvider, DescribeAndTag) {
  auto p = static_from(kHosts);
  ASSERT_TRUE(p->tag({"small-1", "arm-1"}, {{"team", "x"}}));
  HostFilter f;
  f.tags = {{"team", "x"}};
  auto hosts = p->describe(f);
  ASSERT_TRUE(hosts);
  EXPECT_EQ(hosts->size(), 2u);
  f.ids = {"arm-1"};
  EXPECT_EQ(p->describe(f)->size(), 1u);
  EXPECT_EQ(p->tag({"small-1", "ghost"}, {{"a", "b"}}).error(), Errc::not_found);
  f = {};
  f.tags = {{"a", "b"}};
  EXPECT_TRUE(p->describe(f)->empty());  // all-or-nothing: small-1 was not tagged
}

TEST(StaticProvider, YamlErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"hosts:\n  - id: a\n    address: x\n    vcpus: many\n    memory_mib: 1\n", "hosts[0].vcpus: expected an unsigned integer (line 4)"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: 2\n", "hosts[0].memory_mib: is required"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: 2\n    memory_mib: 1\n    colour: red\n", "hosts[0].colour: unknown key"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: 2\n    memory_mib: 1\n  - id: a\n    address: y\n    vcpus: 2\n    memory_mib: 1\n",
       "hosts[1].id: duplicate id 'a'"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: 2\n    memory_mib: 1\n    architecture: sparc\n", "hosts[0].architecture: must be x86_64 or arm64"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: 2\n    memory_mib: 1\n    tags: [a]\n", "hosts[0].tags: expected a mapping"},
      {"hosts: {}\n", "hosts: expected a list"},
      {"machines: []\n", "machines: unknown key"},
      {"- a\n- b\n", "(document): expected a mapping"},
      {"hosts: [\n", "invalid YAML at line"},
      {"hosts:\n  - id: a\n    address: x\n    vcpus: -2\n    memory_mib: 1\n", "hosts[0].vcpus: expected an unsigned integer"},
      {"hosts:\n  - id: [a]\n", "hosts[0].id: expected a string"},
  };
  for (const auto& c : cases) {
    auto r = parse_static_hosts(c.yaml, "hosts.yaml");
    ASSERT_FALSE(r) << c.yaml;
    EXPECT_EQ(r.error(), Errc::invalid_argument);
    EXPECT_NE(r.error().message().find(std::string("hosts.yaml: ") + c.expected), std::string::npos)
        << r.error().message();
  }
  CloudProviderRegistry registry;
  ASSERT_TRUE(register_builtin_cloud_providers(registry));
  auto missing = (*registry.find("static"))->create({{{"hosts_file", "/nonexistent/hosts.yaml"}}});
  EXPECT_EQ(missing.error(), Errc::not_found);
  EXPECT_EQ((*registry.find("static"))->create({}).error(), Errc::invalid_argument);
}

TEST(HostRequest, Validation) {
  HostRequest r;
  EXPECT_TRUE(r.validate());
  r.count = 0;
  EXPECT_NE(r.validate().error().message().find("count"), std::string::npos);
  r = {};
  r.vcpus = {8, 4};
  EXPECT_NE(r.validate().error().message().find("vcpus.max"), std::string::npos);
  r = {};
  r.instance_families = {"m5; rm"};
  EXPECT_FALSE(r.validate());
  r = {};
  r.tags = {{"aws:x", "y"}};
  EXPECT_FALSE(r.validate());
}

TEST(CapacityBreaker, Transitions) {
  CapacityBreaker::Options o;
  o.failure_threshold = 2;
  o.cool_down = 60s;
  o.max_cool_down = 200s;
  CapacityBreaker b(o);
  const CapacityPool pool{"m5.large", "", Lifecycle::spot};
  const CapacityPool other{"m5.large", "", Lifecycle::on_demand};
  auto t0 = CapacityBreaker::Clock::time_point{} + 1000s;
  EXPECT_TRUE(b.allows(pool, t0));
  b.record_failure(pool, t0);
  EXPECT_EQ(b.state(pool, t0), BreakerState::closed);  // below threshold
  b.record_failure(pool, t0);
  EXPECT_EQ(b.state(pool, t0), BreakerState::open);
  EXPECT_FALSE(b.allows(pool, t0 + 59s));
  EXPECT_TRUE(b.allows(other, t0));  // markets are separate pools
  // A zonal pool is blocked while the regional pool of the same type is open.
  EXPECT_FALSE(b.allows({"m5.large", "us-east-1a", Lifecycle::spot}, t0 + 1s));
  EXPECT_EQ(b.state(pool, t0 + 60s), BreakerState::half_open);
  EXPECT_TRUE(b.allows(pool, t0 + 60s));       // the probe
  EXPECT_FALSE(b.allows(pool, t0 + 61s));      // only one probe per cool-down
  b.record_failure(pool, t0 + 62s);            // probe failed: re-open, doubled cool-down
  auto snap = b.snapshot(t0 + 62s);
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, BreakerState::open);
  EXPECT_EQ(snap[0].trips, 2);
  EXPECT_EQ(snap[0].open_until, t0 + 62s + 120s);
  b.record_failure(pool, t0 + 300s);
  EXPECT_EQ(b.snapshot(t0 + 300s)[0].open_until, t0 + 300s + 200s);  // capped
  b.record_success(pool);
  EXPECT_EQ(b.state(pool, t0 + 301s), BreakerState::closed);
  EXPECT_TRUE(b.snapshot(t0 + 301s).empty());
  EXPECT_EQ(to_string(pool), "m5.large/*/spot");
}

TEST(UserData, DefaultTemplateRendersToValidCloudConfig) {
  std::map<std::string, std::string> values = {
      {"firerund_url", "https://releases.example.com/firerund-0.1.0"},
      {"firerund_sha256", std::string(64, 'a')},
      {"fleet_queue", "redis://q.internal:6379/0?prefix=fire\"run: with\nnewline & $(rm -rf /)"},
      {"queue_password_parameter", "/firerun/ci/queue-password"},
      {"fleet_key_parameter", "/firerun/ci/fleet-key"},
  };
  auto out = render_user_data(default_user_data_template(), values);
  ASSERT_TRUE(out) << out.error().what();
  ASSERT_TRUE(out->starts_with("#cloud-config\n"));
  auto doc = YAML::Load(*out);
  ASSERT_TRUE(doc.IsMap());
  const auto files = doc["write_files"];
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0]["path"].as<std::string>(), "/etc/firerun/firerund.yaml");
  EXPECT_EQ(files[0]["permissions"].as<std::string>(), "0600");
  // The embedded config is YAML too; a hostile value survives as one value.
  // (tests/unit/firerund checks that firerund itself accepts this file.)
  auto config = YAML::Load(files[0]["content"].as<std::string>());
  EXPECT_EQ(config["fleet"]["queue"].as<std::string>(), values["fleet_queue"]);
  EXPECT_EQ(config["fleet"]["queue_password_file"].as<std::string>(), "/etc/firerun/queue-password");
  const auto runcmd = doc["runcmd"];
  ASSERT_EQ(runcmd.size(), 4u);
  EXPECT_EQ(runcmd[1][4].as<std::string>(), values["queue_password_parameter"]);  // arguments too
  EXPECT_EQ(runcmd[1][5].as<std::string>(), values["fleet_key_parameter"]);
  EXPECT_EQ(runcmd[0][4].as<std::string>(), values["firerund_url"]);  // an argument, not script text
  EXPECT_EQ(runcmd[0][5].as<std::string>(), values["firerund_sha256"]);
  EXPECT_EQ(runcmd[3][3].as<std::string>(), "firerund.service");

  auto b64 = base64_encode(*out);
  EXPECT_EQ(b64.size() % 4, 0u);
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("#cloud-config"), "I2Nsb3VkLWNvbmZpZw==");
}

TEST(UserData, TemplateErrors) {
  EXPECT_NE(render_user_data("#cloud-config\na: {{x}}\n", {}).error().message().find("no value for placeholder 'x'"),
            std::string::npos);
  EXPECT_NE(render_user_data("#cloud-config\na: 1\n", {{"x", "1"}}).error().message().find("'x' is not used"),
            std::string::npos);
  EXPECT_FALSE(render_user_data("#cloud-config\na: {{x\n", {{"x", "1"}}));
  EXPECT_FALSE(render_user_data("#!/bin/sh\necho {{x}}\n", {{"x", "1"}}));
  EXPECT_FALSE(render_user_data("#cloud-config\n[a, b\n", {}));
  EXPECT_EQ(render_user_data("#cloud-config\na: {{x}}\n", {{"x", std::string(20000, 'a')}}).error(), Errc::limit_exceeded);
  auto custom = render_user_data("#cloud-config\nhostname: {{ name }}\n", {{"name", "h1"}});
  ASSERT_TRUE(custom);
  EXPECT_EQ(YAML::Load(*custom)["hostname"].as<std::string>(), "h1");
}

namespace {
PoolHost host(std::string id, HostState s, std::uint32_t jobs, std::optional<std::chrono::seconds> idle_for,
              std::chrono::system_clock::time_point now) {
  PoolHost h{std::move(id), s, jobs, std::nullopt};
  if (idle_for) h.idle_since = now - *idle_for;
  return h;
}
}  // namespace

TEST(Reconciler, Decisions) {
  PoolPolicy policy;
  policy.min_hosts = 1;
  policy.max_hosts = 5;
  policy.jobs_per_host = 4;
  policy.idle_grace = 300s;
  policy.max_launch_per_step = 3;
  const auto now = std::chrono::system_clock::time_point{} + 100000s;

  auto d = decide(policy, {0, {}, now});
  EXPECT_EQ(d.launch, 1u);  // min_hosts
  EXPECT_NE(d.reason.find("below min_hosts"), std::string::npos);

  d = decide(policy, {9, {host("a", HostState::running, 4, {}, now)}, now});
  EXPECT_EQ(d.desired, 4u);  // ceil(13/4)
  EXPECT_EQ(d.launch, 3u);

  d = decide(policy, {100, {}, now});
  EXPECT_EQ(d.desired, 5u);
  EXPECT_EQ(d.launch, 3u);  // bounded per step

  // Pending hosts count as capacity already coming.
  d = decide(policy, {4, {host("a", HostState::running, 4, {}, now), host("b", HostState::pending, 0, {}, now)}, now});
  EXPECT_TRUE(d.empty());

  // Scale-in: only idle-past-grace hosts, longest idle first, never below desired.
  d = decide(policy, {0,
                      {host("a", HostState::running, 0, 400s, now), host("b", HostState::running, 0, 1000s, now),
                       host("c", HostState::running, 0, 10s, now), host("d", HostState::running, 1, {}, now),
                       host("e", HostState::terminated, 0, 9999s, now)},
                      now});
  EXPECT_EQ(d.active, 4u);
  EXPECT_EQ(d.desired, 1u);
  EXPECT_EQ(d.terminate, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(describe(d).rfind("terminate b, a (desired 1, active 4)", 0), 0u);

  PoolPolicy zero = policy;
  zero.min_hosts = 0;
  d = decide(zero, {0, {host("a", HostState::running, 0, 301s, now)}, now});
  EXPECT_EQ(d.terminate, std::vector<std::string>{"a"});
}

TEST(Reconciler, DryRunPrintsAndChangesNothing) {
  auto provider = static_from(kHosts);
  PoolPolicy policy;
  policy.min_hosts = 2;
  std::ostringstream out;
  HostRequest req;
  PoolReconciler dry(*provider, policy, req, true, out);
  auto d = dry.step({0, {}, std::chrono::system_clock::now()});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->launch, 2u);
  EXPECT_EQ(out.str().rfind("dry-run: would launch 2 host(s)", 0), 0u);
  HostFilter claimed;
  // Nothing claimed: both fitting hosts are still free for a real step.
  PoolReconciler real(*provider, policy, req, false, out);
  ASSERT_TRUE(real.step({0, {}, std::chrono::system_clock::now()}));
  req.count = 1;
  EXPECT_EQ(provider->provision(req).error(), Errc::limit_exceeded);  // the real step claimed them
}
