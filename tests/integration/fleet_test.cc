// Two firerund hosts sharing one redis queue. Host A (one worker) has queued
// jobs when its fake IMDS starts announcing a spot interruption: A pauses
// intake, hands its queued jobs back, finishes its running job; host B runs
// the handed-back jobs. Nothing is lost or run twice.
#include "daemon_harness.h"
#include "firerun/fleet.h"
#include "support/conformance.h"
#include "support/leak_check.h"
#include "support/redis_server.h"
#include "support/script_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>

namespace firerun::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

std::string bash_job(const std::string& code) {
  return json::serialize(json::object{{"lang", "bash"}, {"code", code}});
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// POST to the fake IMDS's /_control.
void imds_control(const std::string& endpoint, const json::object& update) {
  auto colon = endpoint.rfind(':');
  auto port = static_cast<unsigned short>(std::stoi(endpoint.substr(colon + 1)));
  auto r = http_request(port, http::verb::post, "/_control", json::serialize(update));
  ASSERT_EQ(r.status, 200u);
}

std::string status_of(const Daemon& d, const std::string& id) {
  auto r = d.get("/v1/jobs/" + id);
  if (r.status != 200) return "http-" + std::to_string(r.status);
  return std::string(r.json().at("status").as_string());
}

TEST(FleetDaemons, ASpotWarnedHostHandsItsQueuedJobsToAnotherHost) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/events");
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
  RedisServer redis;
  ASSERT_TRUE(redis.running());
  ScriptServer imds({"python3", FIRERUN_FAKE_IMDS_SCRIPT});
  ASSERT_FALSE(imds.endpoint().empty()) << "fake IMDS did not start";
  const std::string queue_uri = redis.uri("itest");

  TempDir dir_a("fleet-a"), dir_b("fleet-b");
  const std::string fleet_key = "fleet-key-for-the-test-of-32-bytes-or-more";
  const std::map<std::string, std::string> common{
      {"FIRERUN_VM_START", "cold"}, {"FIRERUN_FLEET_QUEUE", queue_uri}, {"FIRERUN_FLEET_KEY", fleet_key}};
  auto env_a = common;
  env_a.insert({{"FIRERUN_FLEET_HOST_ID", "host-a"},
                {"FIRERUN_LIMITS_MAX_CONCURRENT_JOBS", "1"},
                {"FIRERUN_FLEET_SPOT_WATCH_ENABLED", "true"},
                {"FIRERUN_FLEET_SPOT_WATCH_IMDS_ENDPOINT", imds.endpoint()},
                {"FIRERUN_FLEET_SPOT_WATCH_INTERVAL_MS", "200"}});
  auto env_b = common;
  env_b.insert({{"FIRERUN_FLEET_HOST_ID", "host-b"}, {"FIRERUN_LIMITS_MAX_CONCURRENT_JOBS", "2"}});
  Daemon a(dir_a.path, env_a), b(dir_b.path, env_b);
  a.start();
  b.start();
  EXPECT_EQ(a.metric("firerun_fleet_draining"), 0);

  // A: one long job running, three queued behind it (one worker).
  auto first = a.post("/v1/jobs", bash_job("sleep 4; echo first"));
  ASSERT_EQ(first.status, 202u) << first.body;
  const std::string running_id(first.json().at("id").as_string());
  std::vector<std::string> queued_ids;
  for (int i = 0; i < 3; ++i) {
    auto r = a.post("/v1/jobs", bash_job("echo queued-" + std::to_string(i)));
    ASSERT_EQ(r.status, 202u) << r.body;
    queued_ids.emplace_back(r.json().at("id").as_string());
  }
  for (int i = 0; i < 300 && status_of(a, running_id) != "running"; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(status_of(a, running_id), "running");
  for (const auto& id : queued_ids) EXPECT_EQ(status_of(a, id), "queued");

  // The spot warning appears in A's instance metadata.
  const auto doc = read_file(conformance_dir() / "aws/events/imds-spot-instance-action-terminate.json");
  imds_control(imds.endpoint(), {{"spot_action", doc}});
  for (int i = 0; i < 100 && a.metric("firerun_fleet_draining") != 1; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(a.metric("firerun_fleet_draining"), 1);

  // A refuses new work with the reason, and says it is not ready.
  auto refused = a.post("/v1/jobs", bash_job("echo too late"));
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_NE(refused.body.find("host draining: spot interruption: terminate at 2017-09-18T08:22:00Z"), std::string::npos)
      << refused.body;
  EXPECT_EQ(a.get("/readyz").status, 503u);

  // The queued jobs complete on B, under their original ids; A knows they left.
  for (const auto& id : queued_ids) {
    // B learns of the job when it claims it: 404 until then.
    for (int i = 0; i < 600 && b.get("/v1/jobs/" + id).status == 404; ++i) std::this_thread::sleep_for(100ms);
    auto done = wait_job(b, id, 120s);
    EXPECT_EQ(done.at("status"), "completed") << json::serialize(done);
    EXPECT_EQ(done.at("attempts"), 1) << "ran once";
    const auto& stdout_text = done.at("result").at("stdout").as_string();
    EXPECT_EQ(stdout_text.rfind("queued-", 0), 0u) << stdout_text;
    auto gone = a.get("/v1/jobs/" + id);
    EXPECT_EQ(gone.status, 404u);
    EXPECT_NE(gone.body.find("handed back"), std::string::npos) << gone.body;
  }
  // A's running job finishes there.
  auto first_done = wait_job(a, running_id, 120s);
  EXPECT_EQ(first_done.at("status"), "completed");
  EXPECT_EQ(first_done.at("result").at("stdout"), "first\n");
  EXPECT_EQ(b.get("/v1/jobs/" + running_id).status, 404u) << "never ran on B";
  EXPECT_EQ(a.metric("firerun_fleet_handed_back_total"), 3);
  EXPECT_EQ(b.metric("firerun_fleet_claimed_total"), 3);

  // The queue is empty and nothing is left in flight (B acknowledged everything).
  auto queue = fleet::open_shared_queue(queue_uri, {fleet_key, {}});
  ASSERT_TRUE(queue);
  for (int i = 0; i < 50 && !(*queue)->in_flight("host-b")->empty(); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_TRUE((*queue)->in_flight("host-b")->empty());
  EXPECT_TRUE((*queue)->in_flight("host-a")->empty());
  auto stats = (*queue)->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->queued, 0u);
  EXPECT_EQ(stats->dead_letter, 0u);

  // Forged or unacceptable entries never run: unsigned, signed with another
  // key, and authentic but with a payload POST /v1/jobs would refuse.
  scheduler::Job forged;
  forged.kind = "code";
  forged.payload = R"({"lang":"bash","code":"echo forged"})";
  forged.timeout = 30s;
  auto unsigned_queue = fleet::open_shared_queue(queue_uri);
  auto other_key_queue = fleet::open_shared_queue(queue_uri, {std::string(40, 'x'), {}});
  ASSERT_TRUE(unsigned_queue && other_key_queue);
  forged.id = "forged-unsigned";
  ASSERT_TRUE((*unsigned_queue)->push(forged));
  forged.id = "forged-other-key";
  ASSERT_TRUE((*other_key_queue)->push(forged));
  forged.id = "authentic-but-invalid";
  forged.payload = R"({"lang":"no-such-language","code":"true"})";
  ASSERT_TRUE((*queue)->push(forged));
  for (int i = 0; i < 100 && (*queue)->stats()->dead_letter < 3; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*queue)->stats()->dead_letter, 3u);
  EXPECT_EQ((*queue)->stats()->queued, 0u);
  for (const char* id : {"forged-unsigned", "forged-other-key", "authentic-but-invalid"}) {
    EXPECT_EQ(a.get(std::string("/v1/jobs/") + id).status, 404u) << id;
    EXPECT_EQ(b.get(std::string("/v1/jobs/") + id).status, 404u) << id;
  }

  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(child_pids().size(), 2u) << "only redis-server and the fake IMDS are left: no VMM outlived its daemon";
}

}  // namespace
}  // namespace firerun::testing
