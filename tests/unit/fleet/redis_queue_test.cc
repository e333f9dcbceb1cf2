// The redis backend against a real redis-server on a private port.
#include "firerun/fleet.h"
#include "support/redis_server.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

namespace firerun::fleet {
namespace {
using namespace std::chrono_literals;
using firerun::testing::RedisServer;

#define REQUIRE_REDIS()                                                                          \
  if (RedisServer::binary().empty())                                                             \
  GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh installs redis-server)"

scheduler::Job job(std::string id, std::string payload = "p") {
  scheduler::Job j;
  j.id = std::move(id);
  j.payload = std::move(payload);
  j.timeout = 5000ms;
  return j;
}

std::unique_ptr<SharedQueue> open(const RedisServer& server) {
  auto q = open_shared_queue(server.uri("t"));
  EXPECT_TRUE(q) << q.error().what();
  return q ? std::move(*q) : nullptr;
}

/// Raw redis access for planting entries a well-behaved client never writes.
void raw_command(const RedisServer& server, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", static_cast<int>(server.port()));
  ASSERT_TRUE(c && !c->err);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  ASSERT_TRUE(r);
  freeReplyObject(r);
  redisFree(c);
}

std::string claimed_id(SharedQueue& q, const std::string& host, std::chrono::milliseconds wait = 0ms) {
  auto r = q.claim(host, wait);
  if (!r) return "error: " + r.error().what();
  return *r ? (*r)->id : "";
}

TEST(FleetRedisQueue, PushClaimAckIsFifoAndTracksInFlightPerHost) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto q = open(server);
  ASSERT_TRUE(q);
  for (auto id : {"j1", "j2", "j3"}) ASSERT_TRUE(q->push(job(id, std::string("payload-") + id)));
  EXPECT_EQ(q->stats()->queued, 3u);
  auto first = q->claim("host-a", 0ms);
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->id, "j1");
  EXPECT_EQ((*first)->payload, "payload-j1");
  EXPECT_EQ(claimed_id(*q, "host-b"), "j2");
  auto a_flight = q->in_flight("host-a");
  ASSERT_TRUE(a_flight);
  ASSERT_EQ(a_flight->size(), 1u);
  EXPECT_EQ((*a_flight)[0].id, "j1");
  EXPECT_TRUE(q->ack("host-a", "j1"));
  EXPECT_TRUE(q->in_flight("host-a")->empty());
  auto again = q->ack("host-a", "j1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::not_found);
  EXPECT_EQ(q->ack("host-a", "j2").error(), Errc::not_found) << "j2 is host-b's";
  EXPECT_EQ(claimed_id(*q, "host-a"), "j3");
  EXPECT_EQ(claimed_id(*q, "host-a"), "") << "empty queue, no wait";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(claimed_id(*q, "host-a", 300ms), "");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms) << "claim waits for work";
  EXPECT_EQ(q->claim("bad host", 0ms).error(), Errc::invalid_argument);
  EXPECT_EQ(q->push(job("bad id")).error(), Errc::invalid_argument);
}

TEST(FleetRedisQueue, AWaitingClaimGetsAJobPushedMeanwhile) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto consumer = open(server), producer = open(server);
  std::thread push_later([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(producer->push(job("late")));
  });
  EXPECT_EQ(claimed_id(*consumer, "host-a", 5000ms), "late");
  push_later.join();
}

TEST(FleetRedisQueue, ReleaseGoesToTheHeadAndRecoverReturnsInFlightWork) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto q = open(server);
  for (auto id : {"j1", "j2", "j3", "j4"}) ASSERT_TRUE(q->push(job(id)));
  EXPECT_EQ(claimed_id(*q, "a"), "j1");
  EXPECT_EQ(claimed_id(*q, "a"), "j2");
  auto j1 = job("j1", "changed on the way back");
  ASSERT_TRUE(q->release("a", j1));
  EXPECT_EQ(q->in_flight("a")->size(), 1u) << "j1 left a's in-flight list";
  // A job a host never claimed (submitted to it directly) can be released too.
  ASSERT_TRUE(q->release("a", job("local")));
  EXPECT_EQ(claimed_id(*q, "b"), "local");
  auto back = q->claim("b", 0ms);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->id, "j1");
  EXPECT_EQ((*back)->payload, "changed on the way back");
  // a "crashes" with j2 in flight, claims j3 too; at restart it recovers both, oldest first.
  EXPECT_EQ(claimed_id(*q, "a"), "j3");
  auto recovered = q->recover("a");
  ASSERT_TRUE(recovered);
  EXPECT_EQ(*recovered, 2u);
  EXPECT_TRUE(q->in_flight("a")->empty());
  EXPECT_EQ(claimed_id(*q, "c"), "j2");
  EXPECT_EQ(claimed_id(*q, "c"), "j3");
  EXPECT_EQ(claimed_id(*q, "c"), "j4");
  EXPECT_EQ(*q->recover("nobody"), 0u);
}

TEST(FleetRedisQueue, MalformedEntriesGoToTheDeadLetterListAndNeverStopTheQueue) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto q = open(server);
  ASSERT_TRUE(q->push(job("good-1")));
  raw_command(server, {"LPUSH", "t:queue", "not json at all"});
  raw_command(server, {"LPUSH", "t:queue", R"({"v":1,"id":"x"})"});
  raw_command(server, {"LPUSH", "t:queue", std::string("\0\xff\x01", 3)});
  ASSERT_TRUE(q->push(job("good-2")));
  EXPECT_EQ(claimed_id(*q, "a"), "good-1");
  EXPECT_EQ(claimed_id(*q, "a"), "good-2") << "the three bad entries in between were skipped";
  auto stats = q->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->queued, 0u);
  EXPECT_EQ(stats->dead_letter, 3u) << "nothing vanished";
  EXPECT_EQ(q->in_flight("a")->size(), 2u) << "only the good ones are in flight";
  // A corrupted in-flight entry is set aside too, not returned.
  raw_command(server, {"LPUSH", "t:inflight:a", "{broken"});
  auto flight = q->in_flight("a");
  ASSERT_TRUE(flight);
  EXPECT_EQ(flight->size(), 2u);
  EXPECT_EQ(q->stats()->dead_letter, 4u);
}

TEST(FleetRedisQueue, WithAFleetKeyOnlyAuthenticEntriesOfTakenKindsAreClaimed) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  const std::string key(32, 'f');
  auto signed_queue = open_shared_queue(server.uri("t"), {key, {"code"}});
  auto unsigned_queue = open_shared_queue(server.uri("t"));
  auto wrong_key = open_shared_queue(server.uri("t"), {std::string(32, 'w'), {}});
  ASSERT_TRUE(signed_queue && unsigned_queue && wrong_key);
  auto& q = **signed_queue;
  ASSERT_TRUE((*unsigned_queue)->push(job("unsigned")));
  ASSERT_TRUE((*wrong_key)->push(job("other-key")));
  auto other_kind = job("other-kind");
  other_kind.kind = "ci";
  ASSERT_TRUE(q.push(other_kind));
  ASSERT_TRUE(q.push(job("good")));
  EXPECT_EQ(claimed_id(q, "a"), "good") << "the three before it were set aside";
  EXPECT_EQ(q.stats()->dead_letter, 3u);
  // A claimed job the host refuses (its payload failed validation) goes there too.
  ASSERT_TRUE(q.push(job("refused-later")));
  EXPECT_EQ(claimed_id(q, "a"), "refused-later");
  ASSERT_TRUE(q.reject("a", job("refused-later"), "lang: unknown language"));
  EXPECT_EQ(q.stats()->dead_letter, 4u);
  EXPECT_EQ(q.in_flight("a")->size(), 1u) << "only 'good' is still in flight";
  EXPECT_EQ(q.reject("a", job("never-claimed"), "x").error(), Errc::not_found);
}

TEST(FleetRedisQueue, TwoClaimersNeverGetTheSameJob) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto producer = open(server);
  constexpr int kJobs = 300;
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(producer->push(job("job-" + std::to_string(i))));
  std::mutex mutex;
  std::vector<std::string> seen;
  auto claimer = [&](std::string host) {
    auto q = open(server);
    for (;;) {
      auto r = q->claim(host, 0ms);
      ASSERT_TRUE(r) << r.error().what();
      if (!*r) return;
      ASSERT_TRUE(q->ack(host, (*r)->id));
      std::lock_guard lock(mutex);
      seen.push_back((*r)->id);
    }
  };
  std::thread a(claimer, "host-a"), b(claimer, "host-b");
  a.join();
  b.join();
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kJobs)) << "every job claimed once";
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kJobs)) << "no job claimed twice";
}

TEST(FleetRedisQueue, SurvivesARedisRestartWithoutLosingWork) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_TRUE(server.running());
  auto q = open(server);
  for (auto id : {"j1", "j2", "j3"}) ASSERT_TRUE(q->push(job(id)));
  EXPECT_EQ(claimed_id(*q, "a"), "j1");
  server.stop();
  auto down = q->claim("a", 0ms);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error(), Errc::io);
  EXPECT_NE(down.error().what().find("127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << down.error().what();
  EXPECT_EQ(q->push(job("j4")).error(), Errc::io);
  ASSERT_TRUE(server.start());
  // The same queue object reconnects by itself.
  EXPECT_EQ(claimed_id(*q, "a"), "j2");
  auto flight = q->in_flight("a");
  ASSERT_TRUE(flight);
  EXPECT_EQ(flight->size(), 2u) << "j1 claimed before the restart is still in flight";
  EXPECT_EQ(claimed_id(*q, "a"), "j3");
}

TEST(FleetRedisQueue, PasswordsAreUsedAndNeverShownInErrors) {
  REQUIRE_REDIS();
  RedisServer server({"--requirepass", "correct-horse-battery"});
  ASSERT_TRUE(server.running());
  const std::string where = "127.0.0.1:" + std::to_string(server.port()) + "/0?prefix=t";
  auto wrong = open_shared_queue("redis://:wrong-password-xyz@" + where);
  ASSERT_TRUE(wrong);
  auto refused = (*wrong)->push(job("j1"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::auth);
  EXPECT_EQ(refused.error().what().find("wrong-password-xyz"), std::string::npos);
  auto none = open_shared_queue("redis://" + where);
  ASSERT_TRUE(none);
  auto no_auth = (*none)->push(job("j1"));
  ASSERT_FALSE(no_auth);
  EXPECT_EQ(no_auth.error(), Errc::protocol) << no_auth.error().what();
  auto right = open_shared_queue("redis://:correct-horse-battery@" + where);
  ASSERT_TRUE(right);
  EXPECT_TRUE((*right)->push(job("j1")));
  EXPECT_EQ(claimed_id(**right, "a"), "j1");
}

}  // namespace
}  // namespace firerun::fleet
