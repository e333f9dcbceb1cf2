// AgentClient against the REAL firerun-agent binary (--serve-fd over a
// socketpair), plus a hand-driven hostile guest for the client's defences.
#include "agent/agent_client.h"
#include "firerun/version.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

namespace firerun::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

template <class T>
T run_sync(asio::io_context& io, asio::awaitable<T> op) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out.emplace(std::move(value));
  });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

ExecRequest request(std::vector<std::string> argv) {
  ExecRequest r;
  r.argv = std::move(argv);
  r.uid = ::getuid();  // works whether or not the tests run as root
  r.gid = ::getgid();
  return r;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Blocking raw-frame helpers for driving one end by hand.
void write_raw(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    ASSERT_GT(n, 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void write_frame(int fd, MessageType type, std::uint32_t id, std::string_view payload) {
  write_raw(fd, *encode_frame(type, id, payload));
}

std::optional<Frame> read_frame_raw(int fd, FrameDecoder& decoder, int timeout_ms = 10000) {
  for (;;) {
    auto next = decoder.next();
    if (!next) {
      ADD_FAILURE() << next.error().what();
      return std::nullopt;
    }
    if (*next) return std::move(**next);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) {
      ADD_FAILURE() << "no frame within " << timeout_ms << " ms";
      return std::nullopt;
    }
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

// A running `firerun-agent --serve-fd 3`; host_fd is our end of the socketpair.
class AgentProcess {
 public:
  AgentProcess() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(sv[1], 3);  // dup2 clears CLOEXEC on the copy
      ::execl(FIRERUN_AGENT_BINARY, "firerun-agent", "--serve-fd", "3", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(sv[1]);
    host_fd_ = sv[0];
  }
  ~AgentProcess() {
    if (host_fd_ >= 0) ::close(host_fd_);
    if (pid_ > 0) {
      for (int i = 0; i < 50 && wait(false) == -2; ++i) std::this_thread::sleep_for(20ms);
      if (wait(false) == -2) {
        ::kill(pid_, SIGKILL);
        wait(true);
      }
    }
  }
  /// Hands the host end over (e.g. to an asio socket).
  int release_fd() { return std::exchange(host_fd_, -1); }
  int fd() const { return host_fd_; }
  /// Exit status once it has exited; -2 while still running (when !block).
  int wait(bool block) {
    if (exited_) return status_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r == 0) return -2;
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int host_fd_ = -1;
  bool exited_ = false;
  int status_ = -1;
};

class RealAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    AgentClient::Socket socket(io_);
    socket.assign(asio::local::stream_protocol(), agent_.release_fd());
    client_.emplace(std::move(socket));
    auto hello = run(client_->wait_ready(AgentClient::Clock::now() + 10s));
    ASSERT_TRUE(hello) << hello.error().what();
    hello_ = *hello;
  }
  void TearDown() override { client_.reset(); }

  template <class T>
  T run(asio::awaitable<T> op) {
    return run_sync(io_, std::move(op));
  }
  ExecResult exec_ok(const ExecRequest& r, const OutputSink* sink = nullptr) {
    auto result = run(client_->exec(r, sink));
    EXPECT_TRUE(result) << result.error().what();
    return result ? *result : ExecResult{};
  }

  AgentProcess agent_;
  asio::io_context io_;
  std::optional<AgentClient> client_;
  Hello hello_;
};

TEST_F(RealAgent, HelloCarriesVersionsAndKernel) {
  EXPECT_EQ(hello_.protocol_version, kProtocolVersion);
  EXPECT_EQ(hello_.agent_version, FIRERUN_VERSION_STRING);
  EXPECT_FALSE(hello_.kernel_release.empty());
  EXPECT_GT(hello_.boot_time_ms, 0u);
}

TEST_F(RealAgent, ExitCodesPropagate) {
  for (int code : {0, 1, 7}) {
    ExecResult r = exec_ok(request({"sh", "-c", "exit " + std::to_string(code)}));
    ASSERT_TRUE(r.exit_code.has_value());
    EXPECT_EQ(*r.exit_code, code);
    EXPECT_FALSE(r.signal);
    EXPECT_FALSE(r.timed_out);
  }
}

TEST_F(RealAgent, StdoutAndStderrStaySeparateAndStream) {
  std::string streamed_out, streamed_err;
  OutputSink sink{[&](std::string_view s) { streamed_out += s; }, [&](std::string_view s) { streamed_err += s; }};
  ExecResult r = exec_ok(request({"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"}), &sink);
  EXPECT_EQ(r.stdout_data, "out1\nout2\n");
  EXPECT_EQ(r.stderr_data, "err1\nerr2\n");
  EXPECT_EQ(streamed_out, r.stdout_data);
  EXPECT_EQ(streamed_err, r.stderr_data);
}

TEST_F(RealAgent, StdinReachesTheProgram) {
  ExecRequest r = request({"cat"});
  r.stdin_data = "hello\nworld\n";
  EXPECT_EQ(exec_ok(r).stdout_data, "hello\nworld\n");
  ExecRequest empty = request({"wc", "-c"});
  empty.stdin_data = "";
  EXPECT_EQ(exec_ok(empty).stdout_data.find('0') != std::string::npos, true);
  // Without stdin the program reads /dev/null and does not hang.
  EXPECT_EQ(exec_ok(request({"cat"})).stdout_data, "");
}

TEST_F(RealAgent, TenMiBArriveIntactUnderTheCap) {
  ExecRequest r = request({"cat"});
  r.stdin_data = random_bytes(10u << 20, 1);
  ExecResult out = exec_ok(r);
  EXPECT_EQ(out.stdout_data.size(), r.stdin_data->size());
  EXPECT_TRUE(out.stdout_data == *r.stdin_data);
  EXPECT_FALSE(out.stdout_truncated);
  EXPECT_EQ(out.exit_code, 0);
}

TEST_F(RealAgent, OutputTruncatedExactlyAtTheCap) {
  ExecRequest r = request({"cat"});
  r.stdin_data = random_bytes(10u << 20, 2);
  r.output_cap = (1u << 20) + 7;
  std::size_t streamed = 0;
  OutputSink sink{[&](std::string_view s) { streamed += s.size(); }, {}};
  ExecResult out = exec_ok(r, &sink);
  ASSERT_EQ(out.stdout_data.size(), r.output_cap);
  EXPECT_TRUE(out.stdout_data == r.stdin_data->substr(0, r.output_cap));
  EXPECT_TRUE(out.stdout_truncated);
  EXPECT_FALSE(out.stderr_truncated);
  EXPECT_EQ(streamed, r.output_cap);
  EXPECT_EQ(out.exit_code, 0);  // cat was drained, not blocked or killed
}

TEST_F(RealAgent, TimeoutKillsTheProcessGroup) {
  ExecRequest r = request({"sh", "-c", "sleep 1000 & sleep 1000"});
  r.timeout = 500ms;
  auto started = std::chrono::steady_clock::now();
  ExecResult out = exec_ok(r);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(out.signal, SIGKILL);
  EXPECT_FALSE(out.exit_code);
  EXPECT_GE(out.duration, 450ms);
  EXPECT_LT(elapsed, 5s);
}

TEST_F(RealAgent, SignalDeathReported) {
  ExecResult out = exec_ok(request({"sh", "-c", "kill -SEGV $$"}));
  EXPECT_EQ(out.signal, SIGSEGV);
  EXPECT_FALSE(out.exit_code);
  EXPECT_FALSE(out.timed_out);
}

TEST_F(RealAgent, EnvAndCwdApplied) {
  ExecRequest r = request({"sh", "-c", "echo \"$FOO\"; pwd"});
  r.env = {{"FOO", "bar baz"}};
  r.cwd = "/tmp";
  EXPECT_EQ(exec_ok(r).stdout_data, "bar baz\n/tmp\n");
}

TEST_F(RealAgent, SpawnFailuresAreErrorsAndTheAgentKeepsServing) {
  auto missing = run(client_->exec(request({"/nonexistent/firerun-test-program"})));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found) << missing.error().what();
  ExecRequest bad_cwd = request({"true"});
  bad_cwd.cwd = "/nonexistent-dir";
  auto cwd = run(client_->exec(bad_cwd));
  ASSERT_FALSE(cwd);
  EXPECT_NE(cwd.error().what().find("/nonexistent-dir"), std::string::npos);
  EXPECT_EQ(exec_ok(request({"echo", "still here"})).stdout_data, "still here\n");
}

TEST_F(RealAgent, WriteAndReadFilesRoundTrip) {
  std::string dir = ::testing::TempDir() + "firerun-agent-files-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string big = random_bytes(3u << 20, 3);  // several slices each way
  auto w = run(client_->write_file(dir + "/big.bin", big, 0600));
  ASSERT_TRUE(w) << w.error().what();
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/big.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto back = run(client_->read_file(dir + "/big.bin"));
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_TRUE(*back == big);

  ASSERT_TRUE(run(client_->write_file(dir + "/empty", "")));
  auto empty = run(client_->read_file(dir + "/empty"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");

  auto too_big = run(client_->read_file(dir + "/big.bin", 1000));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().errc(), Errc::limit_exceeded);
  auto missing = run(client_->read_file(dir + "/missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found);
  auto no_dir = run(client_->write_file(dir + "/no/such/dir", "x"));
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().errc(), Errc::not_found);
  std::filesystem::remove_all(dir);
}

TEST_F(RealAgent, ReseedAcceptedWithoutTouchingTheHostClock) {
  auto r = run(client_->reseed(random_bytes(64, 4), std::chrono::system_clock::time_point{}));
  EXPECT_TRUE(r) << r.error().what();
  // Test mode must not have set the clock to the epoch.
  EXPECT_GT(std::chrono::system_clock::now().time_since_epoch(), std::chrono::hours(24 * 365 * 50));
}

TEST_F(RealAgent, ShutdownIsAcknowledgedAndTheAgentExits) {
  auto r = run(client_->shutdown());
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(agent_.wait(true), 0);
}

// Raw frames against the real agent: malformed input and multiplexed execs.
TEST(RealAgentRaw, MalformedFramesGetErrorRepliesAndTheAgentKeepsServing) {
  AgentProcess agent;
  FrameDecoder decoder;
  auto hello = read_frame_raw(agent.fd(), decoder);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->type, MessageType::hello);

  auto expect_error = [&](std::uint32_t id) {
    auto reply = read_frame_raw(agent.fd(), decoder);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->type, MessageType::error);
    EXPECT_EQ(reply->request_id, id);
    EXPECT_EQ(decode_error(reply->payload).errc(), Errc::protocol) << reply->payload;
  };
  write_raw(agent.fd(), "GARBAGE GARBAGE GARBAGE");
  expect_error(0);
  write_frame(agent.fd(), MessageType::exec, 5, "{\"argv\": not json");
  expect_error(5);
  write_frame(agent.fd(), MessageType::exec, 6, R"({"argv":[]})");
  expect_error(6);
  write_frame(agent.fd(), MessageType::stdout_chunk, 7, "hosts may not send this");
  expect_error(7);
  std::string unknown_type = *encode_frame(MessageType::ok, 8, "");
  unknown_type[3] = 77;
  write_raw(agent.fd(), unknown_type);
  expect_error(0);

  asio::io_context io;
  AgentClient::Socket socket(io);
  socket.assign(asio::local::stream_protocol(), agent.release_fd());
  AgentClient client(std::move(socket));
  auto r = run_sync(io, client.exec(request({"echo", "ok"})));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->stdout_data, "ok\n");
}

TEST(RealAgentRaw, ConcurrentExecsAreMultiplexedByRequestId) {
  AgentProcess agent;
  FrameDecoder decoder;
  ASSERT_TRUE(read_frame_raw(agent.fd(), decoder));
  ExecRequest slow = request({"sh", "-c", "sleep 0.5; echo slow"});
  slow.stdin_data = "";  // has_stdin: we feed it below, after the fast one started
  write_frame(agent.fd(), MessageType::exec, 1, encode_exec(slow));
  write_frame(agent.fd(), MessageType::exec, 2, encode_exec(request({"echo", "fast"})));
  write_frame(agent.fd(), MessageType::stdin_chunk, 1, "");
  std::map<std::uint32_t, std::string> out;
  std::vector<std::uint32_t> exit_order;
  while (exit_order.size() < 2) {
    auto f = read_frame_raw(agent.fd(), decoder);
    ASSERT_TRUE(f);
    if (f->type == MessageType::stdout_chunk) out[f->request_id] += f->payload;
    if (f->type == MessageType::exit) {
      auto status = decode_exit(f->payload);
      ASSERT_TRUE(status);
      EXPECT_EQ(status->exit_code, 0);
      exit_order.push_back(f->request_id);
    }
    ASSERT_NE(f->type, MessageType::error) << f->payload;
  }
  EXPECT_EQ(exit_order, (std::vector<std::uint32_t>{2, 1}));
  EXPECT_EQ(out[1], "slow\n");
  EXPECT_EQ(out[2], "fast\n");
}

// A hand-driven hostile guest on the other end of a socketpair.
class HostileGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    AgentClient::Socket socket(io_);
    socket.assign(asio::local::stream_protocol(), sv[0]);
    client_.emplace(std::move(socket));
    guest_fd_ = sv[1];
  }
  void TearDown() override {
    if (guest_.joinable()) guest_.join();
    if (guest_fd_ >= 0) ::close(guest_fd_);
  }
  template <class T>
  T run(asio::awaitable<T> op) {
    return run_sync(io_, std::move(op));
  }

  asio::io_context io_;
  std::optional<AgentClient> client_;
  int guest_fd_ = -1;
  std::thread guest_;
};

TEST_F(HostileGuest, GarbageInsteadOfHelloIsAProtocolError) {
  write_raw(guest_fd_, "this is not a frame at all");
  auto r = run(client_->wait_ready(AgentClient::Clock::now() + 5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::protocol);
  EXPECT_TRUE(client_->broken());
  auto next = run(client_->exec(request({"true"})));
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().errc(), Errc::bad_state);
}

TEST_F(HostileGuest, ClosedStreamIsGuestFailed) {
  ::close(std::exchange(guest_fd_, -1));
  auto r = run(client_->wait_ready(AgentClient::Clock::now() + 5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::guest_failed);
}

TEST_F(HostileGuest, SilenceHitsTheDeadline) {
  auto started = std::chrono::steady_clock::now();
  auto r = run(client_->wait_ready(AgentClient::Clock::now() + 200ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(HostileGuest, HostEnforcesTheOutputCapAndIgnoresStaleFrames) {
  guest_ = std::thread([fd = guest_fd_] {
    FrameDecoder decoder;
    auto exec = read_frame_raw(fd, decoder);
    ASSERT_TRUE(exec);
    ASSERT_EQ(exec->type, MessageType::exec);
    write_frame(fd, MessageType::stdout_chunk, exec->request_id + 100, "stale output of another request");
    for (int i = 0; i < 3; ++i) write_frame(fd, MessageType::stdout_chunk, exec->request_id, std::string(1000, 'x'));
    ExecResult lie;  // claims nothing was truncated
    lie.exit_code = 0;
    write_frame(fd, MessageType::exit, exec->request_id, encode_exit(lie));
  });
  ExecRequest r = request({"anything"});
  r.output_cap = 1500;
  auto out = run(client_->exec(r));
  ASSERT_TRUE(out) << out.error().what();
  EXPECT_EQ(out->stdout_data, std::string(1500, 'x'));
  EXPECT_TRUE(out->stdout_truncated);
}

TEST_F(HostileGuest, MalformedExitIsAProtocolError) {
  guest_ = std::thread([fd = guest_fd_] {
    FrameDecoder decoder;
    auto exec = read_frame_raw(fd, decoder);
    ASSERT_TRUE(exec);
    write_frame(fd, MessageType::exit, exec->request_id, R"({"exit_code":"zero"})");
  });
  auto out = run(client_->exec(request({"anything"})));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().errc(), Errc::protocol);
}

TEST_F(HostileGuest, WrongReplyTypeIsAProtocolError) {
  guest_ = std::thread([fd = guest_fd_] {
    FrameDecoder decoder;
    auto req = read_frame_raw(fd, decoder);
    ASSERT_TRUE(req);
    write_frame(fd, MessageType::file_data, req->request_id, "");
  });
  auto out = run(client_->shutdown());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().errc(), Errc::protocol);
}

}  // namespace
}  // namespace firerun::agent
