// SharedQueue over Redis lists. Keys (P = the prefix):
//   P:queue             shared FIFO: push = LPUSH (tail), claim takes from the right (head)
//   P:inflight:<host>   what <host> claimed and has not acknowledged
//   P:dead              malformed entries, kept for an operator to inspect
// A claim is one BLMOVE (atomic, so two hosts never get the same entry); a
// release is one Lua script (LREM from in-flight + RPUSH to the head).
#include "fleet/redis_queue.h"

#include <boost/url/parse.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <thread>

namespace firerun::fleet::detail {
namespace {

Error uri_error(std::string what) { return Error(Errc::invalid_argument, "redis URI: " + std::move(what)); }

Result<unsigned> parse_number(std::string_view text, unsigned max, const char* what) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > max)
    return uri_error(std::string(what) + " must be an integer from 0 to " + std::to_string(max));
  return v;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// KEYS[1] = in-flight list, KEYS[2] = shared list; ARGV[1] = old entry (may be
// absent), ARGV[2] = entry to put at the head.
constexpr const char* kReleaseScript =
    "redis.call('LREM', KEYS[1], 1, ARGV[1]) "
    "return redis.call('RPUSH', KEYS[2], ARGV[2])";
// KEYS[1] = from, KEYS[2] = dead-letter list; ARGV[1] = entry.
constexpr const char* kBuryScript =
    "local n = redis.call('LREM', KEYS[1], 1, ARGV[1]) "
    "if n > 0 then redis.call('LPUSH', KEYS[2], ARGV[1]) end "
    "return n";

class RedisQueue final : public SharedQueue {
 public:
  RedisQueue(RedisEndpoint endpoint, QueueOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)),
        where_("redis://" + endpoint_.host + ":" + std::to_string(endpoint_.port) + "/" +
               std::to_string(endpoint_.db) + " (prefix " + endpoint_.prefix + ")"),
        queue_key_(endpoint_.prefix + ":queue"), dead_key_(endpoint_.prefix + ":dead") {}

  std::string describe() const override { return where_; }

  Status push(const scheduler::Job& job) override {
    FIRERUN_CHECK(check_job(job));
    const std::string entry = encode_job(job, options_.key);
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto r, command({"LPUSH", queue_key_, entry}));
    return expect_integer(r, "LPUSH");
  }

  Result<std::optional<scheduler::Job>> claim(const std::string& host_id, std::chrono::milliseconds wait) override {
    FIRERUN_CHECK(check_host(host_id));
    const std::string inflight = inflight_key(host_id);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::lock_guard lock(mutex_);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      Result<Reply> r = make_error(Errc::internal, "unset");
      if (left.count() <= 0) {
        r = command({"LMOVE", queue_key_, inflight, "RIGHT", "LEFT"});
      } else {
        // BLMOVE takes seconds (decimals allowed); the socket must wait longer than it.
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(left.count()) / 1000.0);
        r = command({"BLMOVE", queue_key_, inflight, "RIGHT", "LEFT", seconds}, left);
      }
      if (!r) return std::move(r).error();
      redisReply* reply = r->get();
      if (reply->type == REDIS_REPLY_NIL) return std::optional<scheduler::Job>();
      if (reply->type != REDIS_REPLY_STRING) return unexpected_reply("BLMOVE", reply);
      std::string entry(reply->str, reply->len);
      auto job = decode_taken(entry);
      if (job) return std::optional<scheduler::Job>(std::move(*job));
      FIRERUN_CHECK(bury(inflight, entry, job.error()));
      // Try the next entry within what is left of the wait.
    }
  }

  Status ack(const std::string& host_id, const std::string& job_id) override {
    FIRERUN_CHECK(check_host(host_id));
    const std::string inflight = inflight_key(host_id);
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto entry, find_in_flight(inflight, job_id));
    if (!entry) return make_error(Errc::not_found, "job " + job_id + " is not in flight on " + host_id);
    FIRERUN_TRY(auto r, command({"LREM", inflight, "1", *entry}));
    return expect_integer(r, "LREM");
  }

  Status release(const std::string& host_id, const scheduler::Job& job) override {
    FIRERUN_CHECK(check_host(host_id));
    FIRERUN_CHECK(check_job(job));
    const std::string inflight = inflight_key(host_id);
    const std::string entry = encode_job(job, options_.key);
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto old, find_in_flight(inflight, job.id));
    FIRERUN_TRY(auto r, command({"EVAL", kReleaseScript, "2", inflight, queue_key_, old.value_or(""), entry}));
    return expect_integer(r, "release script");
  }

  Result<std::vector<scheduler::Job>> in_flight(const std::string& host_id) override {
    FIRERUN_CHECK(check_host(host_id));
    const std::string inflight = inflight_key(host_id);
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto entries, list(inflight));
    std::vector<scheduler::Job> out;
    for (const auto& entry : entries) {
      auto job = decode_taken(entry);
      if (job) out.push_back(std::move(*job));
      else FIRERUN_CHECK(bury(inflight, entry, job.error()));
    }
    return out;
  }

  Status reject(const std::string& host_id, const scheduler::Job& job, const std::string& reason) override {
    FIRERUN_CHECK(check_host(host_id));
    const std::string inflight = inflight_key(host_id);
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto entry, find_in_flight(inflight, job.id));
    if (!entry) return make_error(Errc::not_found, "job " + job.id + " is not in flight on " + host_id);
    return bury(inflight, *entry, Error(Errc::invalid_argument, "job " + job.id + " refused: " + reason));
  }

  Result<std::size_t> recover(const std::string& host_id) override {
    FIRERUN_CHECK(check_host(host_id));
    const std::string inflight = inflight_key(host_id);
    std::lock_guard lock(mutex_);
    std::size_t moved = 0;
    for (;;) {
      // Newest claim first to the head, so the oldest ends up claimed first.
      FIRERUN_TRY(auto r, command({"LMOVE", inflight, queue_key_, "LEFT", "RIGHT"}));
      if (r->type == REDIS_REPLY_NIL) return moved;
      if (r->type != REDIS_REPLY_STRING) return unexpected_reply("LMOVE", r.get());
      ++moved;
    }
  }

  Result<QueueStats> stats() override {
    std::lock_guard lock(mutex_);
    QueueStats s;
    FIRERUN_TRY(auto q, command({"LLEN", queue_key_}));
    FIRERUN_TRY(auto d, command({"LLEN", dead_key_}));
    if (q->type != REDIS_REPLY_INTEGER || d->type != REDIS_REPLY_INTEGER) return unexpected_reply("LLEN", q.get());
    s.queued = static_cast<std::size_t>(q->integer);
    s.dead_letter = static_cast<std::size_t>(d->integer);
    return s;
  }

 private:
  std::string inflight_key(const std::string& host_id) const { return endpoint_.prefix + ":inflight:" + host_id; }

  static Status check_host(const std::string& host_id) {
    if (!valid_fleet_name(host_id))
      return make_error(Errc::invalid_argument, "host id must be 1-128 characters of [A-Za-z0-9._-]");
    return {};
  }
  static Status check_job(const scheduler::Job& job) {
    if (!valid_fleet_name(job.id))
      return make_error(Errc::invalid_argument, "job id must be 1-128 characters of [A-Za-z0-9._-] to be shared");
    return {};
  }

  Error failure(std::string what) const { return Error(Errc::io, std::move(what)).with_context(where_); }

  Error unexpected_reply(const char* command_name, const redisReply* reply) const {
    if (reply && reply->type == REDIS_REPLY_ERROR)
      return Error(Errc::protocol, std::string(command_name) + " failed: " + std::string(reply->str, reply->len))
          .with_context(where_);
    return Error(Errc::protocol, std::string(command_name) + ": unexpected reply type " +
                                     std::to_string(reply ? reply->type : -1))
        .with_context(where_);
  }

  Status expect_integer(const Reply& r, const char* command_name) const {
    if (r->type != REDIS_REPLY_INTEGER) return unexpected_reply(command_name, r.get());
    return {};
  }

  /// Connects (and authenticates, selects the db) when there is no live connection.
  Status connect_locked() {
    if (context_) return {};
    redisContext* c = redisConnectWithTimeout(endpoint_.host.c_str(), static_cast<int>(endpoint_.port),
                                              to_timeval(endpoint_.timeout));
    std::unique_ptr<redisContext, ContextDeleter> owned(c);
    if (!c) return failure("connecting: out of memory");
    if (c->err) return failure(std::string("connecting: ") + c->errstr);
    redisSetTimeout(c, to_timeval(endpoint_.timeout));
    context_ = std::move(owned);
    if (!endpoint_.password.empty()) {
      Result<Reply> auth = endpoint_.user.empty() ? command_locked({"AUTH", endpoint_.password}, {})
                                                  : command_locked({"AUTH", endpoint_.user, endpoint_.password}, {});
      // The server's answer may echo nothing secret, but keep it short and generic.
      if (!auth || (*auth)->type == REDIS_REPLY_ERROR) {
        context_.reset();
        return Error(Errc::auth, "redis rejected the credentials in the queue URI").with_context(where_);
      }
    }
    if (endpoint_.db != 0) {
      auto selected = command_locked({"SELECT", std::to_string(endpoint_.db)}, {});
      if (!selected) return std::move(selected).error();
      if ((*selected)->type == REDIS_REPLY_ERROR) {
        Error e = unexpected_reply("SELECT", selected->get());
        context_.reset();
        return e;
      }
    }
    return {};
  }

  /// Sends one command on the current connection. A transport error drops the
  /// connection (the next call reconnects); a server error reply is returned as a reply.
  Result<Reply> command_locked(std::initializer_list<std::string_view> args, std::chrono::milliseconds blocking) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (auto a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    if (blocking.count() > 0) redisSetTimeout(context_.get(), to_timeval(blocking + endpoint_.timeout));
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()));
    Reply reply(raw);
    if (blocking.count() > 0 && context_ && !context_->err) redisSetTimeout(context_.get(), to_timeval(endpoint_.timeout));
    if (!reply) {
      std::string why = context_->err ? context_->errstr : "no reply";
      context_.reset();
      return failure(std::string(args.begin()->data(), args.begin()->size()) + ": " + why);
    }
    return reply;
  }

  /// Connect if needed, then command_locked; server error replies become Errc::protocol.
  /// A redis that has just restarted answers -LOADING until its dataset is
  /// in memory: that is the server coming back (transient), not a bad command.
  Result<Reply> command(std::initializer_list<std::string_view> args, std::chrono::milliseconds blocking = {}) {
    const auto give_up = std::chrono::steady_clock::now() + std::max<std::chrono::milliseconds>(endpoint_.timeout, std::chrono::seconds(5));
    for (;;) {
      FIRERUN_CHECK(connect_locked());
      FIRERUN_TRY(auto reply, command_locked(args, blocking));
      const bool loading = reply->type == REDIS_REPLY_ERROR && reply->len >= 7 &&
                           std::string_view(reply->str, 7) == "LOADING";
      if (loading && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (loading) return failure(std::string(args.begin()->data(), args.begin()->size()) + ": redis is still loading its dataset");
      if (reply->type == REDIS_REPLY_ERROR) return unexpected_reply(args.begin()->data(), reply.get());
      return reply;
    }
  }

  Result<std::vector<std::string>> list(const std::string& key) {
    FIRERUN_TRY(auto r, command({"LRANGE", key, "0", "-1"}));
    if (r->type != REDIS_REPLY_ARRAY) return unexpected_reply("LRANGE", r.get());
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->type == REDIS_REPLY_STRING) out.emplace_back(e->str, e->len);
    }
    return out;
  }

  /// The raw in-flight entry of `job_id` (entries that do not decode are skipped here).
  Result<std::optional<std::string>> find_in_flight(const std::string& inflight, const std::string& job_id) {
    FIRERUN_TRY(auto entries, list(inflight));
    for (auto& entry : entries) {
      auto job = decode_job(entry, options_.key);
      if (job && job->id == job_id) return std::optional<std::string>(std::move(entry));
    }
    return std::optional<std::string>();
  }

  /// An entry this host may run: authentic (the fleet key) and of a kind it takes.
  Result<scheduler::Job> decode_taken(const std::string& entry) const {
    FIRERUN_TRY(auto job, decode_job(entry, options_.key));
    if (!options_.kinds.empty() &&
        std::find(options_.kinds.begin(), options_.kinds.end(), job.kind) == options_.kinds.end())
      return Error(Errc::invalid_argument, "job " + job.id + " is of kind '" + job.kind.substr(0, 64) +
                                               "', which hosts of this queue do not take");
    return job;
  }

  /// Moves a malformed entry to the dead-letter list. Logs its size, not its content.
  Status bury(const std::string& from, const std::string& entry, const Error& why) {
    spdlog::warn("fleet queue {}: moved a malformed {}-byte entry from {} to {}: {}", where_, entry.size(), from,
                 dead_key_, why.message());
    FIRERUN_TRY(auto r, command({"EVAL", kBuryScript, "2", from, dead_key_, entry}));
    return expect_integer(r, "dead-letter script");
  }

  const RedisEndpoint endpoint_;
  const QueueOptions options_;
  const std::string where_;
  const std::string queue_key_;
  const std::string dead_key_;
  std::mutex mutex_;  // one command at a time on the connection
  std::unique_ptr<redisContext, ContextDeleter> context_;
};

class RedisQueueFactory final : public SharedQueueFactory {
 public:
  BackendInfo info() const override {
    return {"redis", "Redis lists (reliable queue: BLMOVE into per-host in-flight lists)", "experimental",
            {"redis-server >= 6.2"}};
  }
  Result<std::unique_ptr<SharedQueue>> open(std::string_view uri, const QueueOptions& options) const override {
    FIRERUN_TRY(auto endpoint, parse_redis_uri(uri));
    return std::unique_ptr<SharedQueue>(std::make_unique<RedisQueue>(std::move(endpoint), options));
  }
};

}  // namespace

Result<RedisEndpoint> parse_redis_uri(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return uri_error("not a valid URI (expected redis://host:port/db?prefix=name)");
  const auto& u = *parsed;
  if (u.scheme() != "redis") return uri_error("scheme must be redis");
  RedisEndpoint e;
  if (u.host().empty()) return uri_error("missing host");
  e.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.encoded_host_address())
                                                          : std::string(u.host_address());
  if (u.has_port()) {
    FIRERUN_TRY(e.port, parse_number(u.port(), 65535, "port"));
  }
  if (e.port == 0) return uri_error("port must not be 0");
  if (u.has_userinfo()) {
    e.user = u.user();
    e.password = u.password();
  }
  std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    path.remove_prefix(1);
    FIRERUN_TRY(e.db, parse_number(path, 15, "database number (the path)"));
  }
  for (auto param : u.params()) {
    if (param.key == "prefix") {
      if (!valid_fleet_name(param.value)) return uri_error("prefix must be 1-128 characters of [A-Za-z0-9._-]");
      e.prefix = param.value;
    } else if (param.key == "timeout_ms") {
      FIRERUN_TRY(auto ms, parse_number(param.value, 600000, "timeout_ms"));
      if (ms == 0) return uri_error("timeout_ms must be positive");
      e.timeout = std::chrono::milliseconds(ms);
    } else {
      return uri_error("unknown parameter '" + param.key + "' (known: prefix, timeout_ms)");
    }
  }
  return e;
}

std::shared_ptr<SharedQueueFactory> make_redis_queue_factory() { return std::make_shared<RedisQueueFactory>(); }

}  // namespace firerun::fleet::detail
