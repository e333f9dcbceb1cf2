// QmpClient against a real QEMU (-M none: no guest, starts in milliseconds).
#include "vm/qemu/qmp_client.h"

#include "qemu_monitor_process.h"
#include "qmp_test_support.h"

#include <boost/asio/detached.hpp>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <optional>

namespace firerun::qemu {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
using testing::QemuMonitorProcess;
using testing::run_to_completion;
using testing::sleep_for;
using namespace std::chrono_literals;

awaitable<void> execute_into(QmpClient& client, std::string command, std::optional<Result<json::value>>& out) {
  out = co_await client.execute(command);
}

awaitable<void> sigkill_after(QemuMonitorProcess& qemu, std::chrono::milliseconds delay) {
  co_await sleep_for(delay);
  qemu.signal(SIGKILL);
}

class QmpQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto qemu = testing::find_qemu_system_x86_64();
    if (!qemu) GTEST_SKIP() << "qemu-system-x86_64 not found on PATH";
    std::string error;
    qemu_ = QemuMonitorProcess::start(*qemu, error);
    ASSERT_TRUE(qemu_) << error;
    client_ = std::make_unique<QmpClient>(
        QmpClient::Socket(io_, boost::asio::local::stream_protocol(), qemu_->release_monitor_fd()));
  }

  awaitable<bool> handshake() {
    auto greeting = co_await client_->handshake(10s);
    EXPECT_TRUE(greeting) << greeting.error().what();
    co_return bool(greeting);
  }

  boost::asio::io_context io_;
  std::unique_ptr<QemuMonitorProcess> qemu_;
  std::unique_ptr<QmpClient> client_;
};

TEST_F(QmpQemuTest, HandshakeAndQueries) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto greeting = co_await client_->handshake(10s);
    if (!greeting) {
      ADD_FAILURE() << greeting.error().what();
      co_return;
    }
    auto version = co_await client_->execute("query-version");
    if (!version) {
      ADD_FAILURE() << version.error().what();
      co_return;
    }
    // The greeting carries the same data as query-version.
    const json::value& qemu = version->at("qemu");
    EXPECT_EQ(qemu.at("major").to_number<std::int64_t>(), greeting->version.major);
    EXPECT_EQ(qemu.at("minor").to_number<std::int64_t>(), greeting->version.minor);
    EXPECT_EQ(qemu.at("micro").to_number<std::int64_t>(), greeting->version.micro);
    EXPECT_EQ(version->at("package"), json::value(greeting->version.package));

    auto status = co_await client_->execute("query-status");
    if (!status) {
      ADD_FAILURE() << status.error().what();
      co_return;
    }
    EXPECT_EQ(status->at("status"), "running");
    EXPECT_EQ(status->at("running"), true);
  }());
}

TEST_F(QmpQemuTest, ConcurrentCommandsAndUnknownCommand) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    if (!co_await handshake()) co_return;
    std::optional<Result<json::value>> a, b;
    boost::asio::co_spawn(io_, execute_into(*client_, "query-name", a), boost::asio::detached);
    boost::asio::co_spawn(io_, execute_into(*client_, "query-kvm", b), boost::asio::detached);
    auto missing = co_await client_->execute("no-such-command");
    while (!a || !b) co_await sleep_for(1ms);
    EXPECT_TRUE(*a) << a->error().what();
    EXPECT_TRUE(*b) << b->error().what();
    if (*b) {
      EXPECT_TRUE(b->value().as_object().contains("enabled"));
    }

    EXPECT_FALSE(missing);
    if (missing) co_return;
    EXPECT_EQ(missing.error().errc(), Errc::backend_failed);
    EXPECT_NE(missing.error().message().find("CommandNotFound"), std::string::npos) << missing.error().what();
    EXPECT_NE(missing.error().message().find("'no-such-command'"), std::string::npos) << missing.error().what();
    // Bad arguments are reported by QEMU too, and the connection stays usable.
    json::object bogus_args{{"bogus", 1}};  // (a braced list inside co_await trips a GCC 12 bug)
    auto bad_args = co_await client_->execute("query-status", std::move(bogus_args));
    EXPECT_FALSE(bad_args);
    if (!bad_args) {
      EXPECT_NE(bad_args.error().message().find("GenericError"), std::string::npos);
    }
    EXPECT_TRUE(co_await client_->execute("query-status"));
  }());
}

TEST_F(QmpQemuTest, QuitEmitsShutdownAndClosesCleanly) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    if (!co_await handshake()) co_return;
    auto quit = co_await client_->execute("quit");
    // QEMU 7.2 sends SHUTDOWN, then the reply, then closes; the reply racing
    // the close would also be acceptable, as a connection-loss error.
    if (!quit) {
      EXPECT_EQ(quit.error().errc(), Errc::backend_failed) << quit.error().what();
    }
    auto event = co_await client_->next_event(5s);
    if (!event) {
      ADD_FAILURE() << event.error().what();
      co_return;
    }
    EXPECT_EQ(event->name, "SHUTDOWN");
    EXPECT_EQ(event->data.at("reason"), "host-qmp-quit");
    EXPECT_GT(event->timestamp.seconds, 0);
    auto closed = co_await client_->wait_closed(5s);
    EXPECT_TRUE(closed) << closed.error().what();
  }());
  const int status = qemu_->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "raw wait status " << status;
}

TEST_F(QmpQemuTest, CommandQueuedBehindQuitFailsAsConnectionLoss) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    if (!co_await handshake()) co_return;
    std::optional<Result<json::value>> quit, after;
    boost::asio::co_spawn(io_, execute_into(*client_, "quit", quit), boost::asio::detached);
    boost::asio::co_spawn(io_, execute_into(*client_, "query-status", after), boost::asio::detached);
    while (!quit || !after) co_await sleep_for(1ms);
    // QEMU exits without reading the second command (so the socket may report
    // a reset rather than EOF); either way the command fails, it does not hang.
    EXPECT_FALSE(*after);
    if (!*after) {
      EXPECT_EQ(after->error().errc(), Errc::backend_failed) << after->error().what();
      EXPECT_NE(after->error().what().find("QEMU exited or crashed"), std::string::npos) << after->error().what();
    }
  }());
}

TEST_F(QmpQemuTest, SigkillWhileACommandIsPendingReportsTheConnectionLoss) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    if (!co_await handshake()) co_return;
    // A stopped QEMU cannot answer, so the command is surely pending when it dies.
    qemu_->signal(SIGSTOP);
    boost::asio::co_spawn(io_, sigkill_after(*qemu_, 100ms), boost::asio::detached);
    const auto start = std::chrono::steady_clock::now();
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_FALSE(result);
    if (result) co_return;
    EXPECT_EQ(result.error().errc(), Errc::backend_failed);
    EXPECT_NE(result.error().what().find("QEMU exited or crashed"), std::string::npos) << result.error().what();
    EXPECT_FALSE(client_->is_open());
  }());
  const int status = qemu_->wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "raw wait status " << status;
}

}  // namespace
}  // namespace firerun::qemu
