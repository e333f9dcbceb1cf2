#include "firerun/fleet.h"

#include "fleet/redis_queue.h"

#include <gtest/gtest.h>

namespace firerun::fleet {
namespace {
using namespace std::chrono_literals;

scheduler::Job sample() {
  scheduler::Job job;
  job.id = "0123abcd";
  job.kind = "code";
  job.payload = R"({"language":"python","code":"print(\"hi\")\n"})";
  job.priority = -3;
  job.resources = {2, 768};
  job.timeout = 125000ms;
  job.attempt = 2;
  return job;
}

TEST(FleetJobWire, RoundTripsEveryField) {
  auto decoded = decode_job(encode_job(sample()));
  ASSERT_TRUE(decoded) << decoded.error().what();
  const auto& j = *decoded;
  EXPECT_EQ(j.id, "0123abcd");
  EXPECT_EQ(j.kind, "code");
  EXPECT_EQ(j.payload, sample().payload);
  EXPECT_EQ(j.priority, -3);
  EXPECT_EQ(j.resources.vcpus, 2u);
  EXPECT_EQ(j.resources.memory_mib, 768u);
  EXPECT_EQ(j.timeout, 125000ms);
  EXPECT_EQ(j.attempt, 0u) << "attempts are per host, not shared";
}

TEST(FleetJobWire, SignedEntriesOpenOnlyWithTheFleetKey) {
  const std::string key(32, 'k'), other(32, 'o');
  const std::string sealed = encode_job(sample(), key);
  auto opened = decode_job(sealed, key);
  ASSERT_TRUE(opened) << opened.error().what();
  EXPECT_EQ(opened->payload, sample().payload);
  auto refused = [](const Result<scheduler::Job>& r, const char* why) {
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error(), Errc::protocol) << why;
  };
  refused(decode_job(sealed, other), "another fleet key");
  refused(decode_job(sealed), "signed, but no key here");
  refused(decode_job(encode_job(sample()), key), "unsigned, but this queue requires signatures");
  // Any change to the signed job breaks the MAC.
  std::string tampered = sealed;
  const auto at = tampered.find("print");
  ASSERT_NE(at, std::string::npos);
  tampered.replace(at, 5, "exec(");
  refused(decode_job(tampered, key), "altered payload");
  EXPECT_NE(decode_job(tampered, key).error().what().find("MAC does not match"), std::string::npos);
  std::string bad_mac = sealed;
  bad_mac[bad_mac.rfind('"') - 1] ^= 1;
  refused(decode_job(bad_mac, key), "altered MAC");
}

TEST(FleetJobWire, MalformedEntriesAreProtocolErrorsThatNeverQuoteTheInput) {
  const std::string valid = encode_job(sample());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = valid;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<std::string> bad = {
      "",
      "SECRET-not-json",
      "[1,2]",
      "null",
      R"({"v":1})",
      replace(R"("v":1)", R"("v":2)"),
      replace(R"("id":"0123abcd")", R"("id":"")"),
      replace(R"("id":"0123abcd")", R"("id":"../../etc")"),
      replace(R"("id":"0123abcd")", R"("id":7)"),
      replace(R"("vcpus":2)", R"("vcpus":0)"),
      replace(R"("vcpus":2)", R"("vcpus":-1)"),
      replace(R"("vcpus":2)", R"("vcpus":1.5)"),
      replace(R"("memory_mib":768)", R"("memory_mib":"768")"),
      replace(R"("timeout_ms":125000)", R"("timeout_ms":0)"),
      replace(R"("timeout_ms":125000)", R"("timeout_ms":18446744073709551615)"),
      replace(R"("priority":-3)", R"("priority":99999999999)"),
      valid.substr(0, valid.size() / 2),
  };
  for (const auto& entry : bad) {
    auto r = decode_job(entry);
    ASSERT_FALSE(r) << entry;
    EXPECT_EQ(r.error(), Errc::protocol) << entry;
    EXPECT_EQ(r.error().what().find("SECRET"), std::string::npos);
  }
}

TEST(FleetNames, HostAndJobIdsAreSafeKeyParts) {
  EXPECT_TRUE(valid_fleet_name("ip-10-0-0-5.ec2.internal"));
  EXPECT_TRUE(valid_fleet_name("host_A-1"));
  EXPECT_FALSE(valid_fleet_name(""));
  EXPECT_FALSE(valid_fleet_name("a:b"));
  EXPECT_FALSE(valid_fleet_name("a b"));
  EXPECT_FALSE(valid_fleet_name(std::string(129, 'a')));
}

TEST(FleetRedisUri, ParsesEveryPart) {
  auto e = detail::parse_redis_uri("redis://:s3cret@10.1.2.3:6380/4?prefix=prod.fleet&timeout_ms=500");
  ASSERT_TRUE(e) << e.error().what();
  EXPECT_EQ(e->host, "10.1.2.3");
  EXPECT_EQ(e->port, 6380u);
  EXPECT_EQ(e->db, 4u);
  EXPECT_EQ(e->password, "s3cret");
  EXPECT_EQ(e->user, "");
  EXPECT_EQ(e->prefix, "prod.fleet");
  EXPECT_EQ(e->timeout, 500ms);
  auto d = detail::parse_redis_uri("redis://queue.internal");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "queue.internal");
  EXPECT_EQ(d->port, 6379u);
  EXPECT_EQ(d->db, 0u);
  EXPECT_EQ(d->prefix, "firerun");
  auto u = detail::parse_redis_uri("redis://fleet:pw@h:1/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "fleet");
  EXPECT_EQ(u->password, "pw");
}

TEST(FleetRedisUri, BadUrisNameThePartAndNeverThePassword) {
  for (const char* uri : {"redis://:hunter2@h:0/0", "redis://:hunter2@h:70000", "http://:hunter2@h", "redis://:hunter2@h/16",
                          "redis://:hunter2@h/x", "redis://:hunter2@h?prefix=a:b", "redis://:hunter2@h?colour=red",
                          "redis://:hunter2@h?timeout_ms=0", "redis://", "not a uri"}) {
    auto r = detail::parse_redis_uri(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error(), Errc::invalid_argument) << uri;
    EXPECT_EQ(r.error().what().find("hunter2"), std::string::npos) << uri;
  }
}

TEST(FleetRegistry, OpensRedisBySchemeAndRefusesUnknownSchemes) {
  auto names = shared_queues().list();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].name, "redis");
  auto q = open_shared_queue("redis://127.0.0.1:1/0?prefix=t");
  ASSERT_TRUE(q) << "opening connects lazily";
  EXPECT_EQ((*q)->describe(), "redis://127.0.0.1:1/0 (prefix t)");
  auto unknown = open_shared_queue("sqs://queue");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), Errc::not_found);
}

}  // namespace
}  // namespace firerun::fleet
