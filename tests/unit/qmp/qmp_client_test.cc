// QmpClient against a scripted fake QMP server on the other end of a
// socketpair, replaying lines recorded from QEMU 7.2.
#include "vm/qemu/qmp_client.h"

#include "qmp_test_support.h"

#include <boost/asio/detached.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace firerun::qemu {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
namespace transcript = testing::transcript;
using testing::FakeQmpPeer;
using testing::run_to_completion;
using testing::sleep_for;
using testing::spawn_peer;
using namespace std::chrono_literals;

bool mentions(const Error& error, std::string_view text) { return error.what().find(text) != std::string::npos; }

// A free coroutine rather than a capturing lambda: a lambda's captures die with
// the closure object, which co_spawn does not keep alive.
awaitable<void> execute_into(QmpClient& client, std::string command, json::object args,
                             std::optional<Result<json::value>>& out) {
  out = co_await client.execute(command, std::move(args), 20s);
}

class QmpClientTest : public ::testing::Test {
 protected:
  QmpClientTest() : QmpClientTest(QmpClientOptions{}) {}
  explicit QmpClientTest(QmpClientOptions options) { make_pair(options); }

  void make_pair(QmpClientOptions options) {
    QmpClient::Socket client_end(io_), peer_end(io_);
    boost::asio::local::connect_pair(client_end, peer_end);
    client_ = std::make_unique<QmpClient>(std::move(client_end), options);
    peer_ = std::make_unique<FakeQmpPeer>(std::move(peer_end));
  }

  // Greeting + capabilities from the peer's side, then `rest` of its script.
  void serve(std::function<awaitable<void>(FakeQmpPeer&)> rest) {
    spawn_peer(io_, [](FakeQmpPeer& peer, std::function<awaitable<void>(FakeQmpPeer&)> rest) -> awaitable<void> {
      co_await peer.send(transcript::kGreeting);
      co_await peer.accept_capabilities();
      if (rest) co_await rest(peer);
    }(*peer_, std::move(rest)));
  }

  awaitable<void> handshake_ok() {
    auto greeting = co_await client_->handshake(2s);
    EXPECT_TRUE(greeting) << greeting.error().what();
  }

  boost::asio::io_context io_;
  std::unique_ptr<QmpClient> client_;
  std::unique_ptr<FakeQmpPeer> peer_;
};

TEST_F(QmpClientTest, HandshakeReadsGreetingAndNegotiatesCapabilities) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    // Exactly this on the wire: no arguments, an id, and no trailing newline
    // (QEMU would leave it unread, see QmpQemuTest.QuitEmitsShutdownAndClosesCleanly).
    EXPECT_EQ(peer.last_command_text(), R"({"execute":"qmp_capabilities","id":1})");
    co_return;
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto greeting = co_await client_->handshake(2s);
    if (!greeting) {
      ADD_FAILURE() << greeting.error().what();
      co_return;
    }
    EXPECT_EQ(greeting->version.major, 7);
    EXPECT_EQ(greeting->version.minor, 2);
    EXPECT_EQ(greeting->capabilities, std::vector<std::string>{"oob"});
    EXPECT_TRUE(client_->is_open());
    auto again = co_await client_->handshake(2s);
    EXPECT_FALSE(again);
    if (!again) {
      EXPECT_EQ(again.error().errc(), Errc::bad_state);
    }
  }());
}

TEST_F(QmpClientTest, ExecuteBeforeHandshakeIsBadState) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto result = co_await client_->execute("query-status");
    EXPECT_FALSE(result);
    if (!result) {
      EXPECT_EQ(result.error().errc(), Errc::bad_state);
      EXPECT_TRUE(mentions(result.error(), "query-status")) << result.error().what();
    }
  }());
}

TEST_F(QmpClientTest, HandshakeTimesOutWithoutGreeting) {
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto greeting = co_await client_->handshake(100ms);
    EXPECT_FALSE(greeting);
    if (!greeting) {
      EXPECT_EQ(greeting.error().errc(), Errc::timeout) << greeting.error().what();
    }
    EXPECT_FALSE(client_->is_open());
  }());
}

TEST_F(QmpClientTest, HandshakeRejectsAnythingButAGreetingFirst) {
  spawn_peer(io_, [](FakeQmpPeer& peer) -> awaitable<void> { co_await peer.send(transcript::kStopEvent); }(*peer_));
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto greeting = co_await client_->handshake(2s);
    EXPECT_FALSE(greeting);
    if (!greeting) {
      EXPECT_EQ(greeting.error().errc(), Errc::protocol);
      EXPECT_TRUE(mentions(greeting.error(), "expected the QMP greeting first, got a event")) << greeting.error().what();
    }
  }());
}

TEST_F(QmpClientTest, HandshakeFailsWhenCapabilitiesAreRejected) {
  spawn_peer(io_, [](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.send(transcript::kGreeting);
    auto command = co_await peer.read_command();
    co_await peer.send(R"({"error": {"class": "GenericError", "desc": "nope"}, "id": )" +
                       json::serialize(command.at("id")) + "}");
  }(*peer_));
  run_to_completion(io_, [&]() -> awaitable<void> {
    auto greeting = co_await client_->handshake(2s);
    EXPECT_FALSE(greeting);
    if (!greeting) {
      EXPECT_EQ(greeting.error().errc(), Errc::backend_failed);
      EXPECT_TRUE(mentions(greeting.error(), "negotiating QMP capabilities")) << greeting.error().what();
      EXPECT_TRUE(mentions(greeting.error(), "GenericError: nope")) << greeting.error().what();
    }
    EXPECT_FALSE(client_->is_open());
  }());
}

TEST_F(QmpClientTest, ConcurrentCommandsCorrelateByIdWhileEventsInterleave) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    auto first = co_await peer.read_command();
    auto second = co_await peer.read_command();
    EXPECT_EQ(first.at("execute"), "query-version");
    EXPECT_EQ(second.at("execute"), "query-status");
    EXPECT_NE(first.at("id"), second.at("id"));
    EXPECT_EQ(second.at("arguments"), json::parse(R"({"verbose": true})"));
    // Answer out of order, with events in between, as an OOB-capable server may.
    co_await peer.send(transcript::kStopEvent);
    co_await peer.reply(second, transcript::kQueryStatusReturn);
    co_await peer.send(transcript::kResumeEvent);
    co_await peer.reply(first, transcript::kQueryVersionReturn);
    co_await peer.send(transcript::kShutdownEvent);
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    std::optional<Result<json::value>> version, status;
    boost::asio::co_spawn(io_, execute_into(*client_, "query-version", {}, version), boost::asio::detached);
    boost::asio::co_spawn(io_, execute_into(*client_, "query-status", {{"verbose", true}}, status), boost::asio::detached);

    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) {
      auto event = co_await client_->next_event(2s);
      if (!event) {
        ADD_FAILURE() << event.error().what();
        co_return;
      }
      names.push_back(event->name);
      if (event->name == "SHUTDOWN") {
        EXPECT_EQ(event->data.at("reason"), "host-qmp-quit");
      }
    }
    EXPECT_EQ(names, (std::vector<std::string>{"STOP", "RESUME", "SHUTDOWN"}));
    while (!version || !status) co_await sleep_for(1ms);
    if (!*version || !*status) {
      ADD_FAILURE() << "a command failed";
      co_return;
    }
    EXPECT_EQ(version->value().at("qemu").at("major"), 7);
    EXPECT_EQ(status->value().at("status"), "running");
  }());
}

TEST_F(QmpClientTest, ErrorReplyNamesCommandClassAndDescription) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    auto command = co_await peer.read_command();
    co_await peer.send(R"({"id": )" + json::serialize(command.at("id")) +
                       R"(, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}})");
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto result = co_await client_->execute("nope");
    EXPECT_FALSE(result);
    if (result) co_return;
    EXPECT_EQ(result.error().errc(), Errc::backend_failed);
    EXPECT_EQ(result.error().message(),
              "QMP command 'nope' failed: CommandNotFound: The command nope has not been found");
    EXPECT_TRUE(client_->is_open()) << "an error reply does not end the connection";
  }());
}

TEST_F(QmpClientTest, PeerClosingMidCommandFailsItPromptly) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.read_command();
    peer.close();
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    const auto start = std::chrono::steady_clock::now();
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "must not wait for the deadline";
    EXPECT_FALSE(result);
    if (!result) {
      EXPECT_EQ(result.error().errc(), Errc::backend_failed);
      EXPECT_TRUE(mentions(result.error(), "QMP command 'query-status'")) << result.error().what();
      EXPECT_TRUE(mentions(result.error(), "QEMU exited or crashed")) << result.error().what();
    }
    EXPECT_FALSE(client_->is_open());
    // Everything afterwards fails at once with the same reason.
    auto later = co_await client_->execute("query-status", {}, 20s);
    EXPECT_FALSE(later);
    if (!later) {
      EXPECT_EQ(later.error().errc(), Errc::backend_failed);
    }
    auto event = co_await client_->next_event(20s);
    EXPECT_FALSE(event);
    auto closed = co_await client_->wait_closed(1s);
    EXPECT_TRUE(closed) << "a plain EOF is a clean close: " << (closed ? "" : closed.error().what());
  }());
}

TEST_F(QmpClientTest, PeerDyingInsideAMessageIsAnUncleanClose) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.read_command();
    co_await peer.send_raw(R"({"return": {"sta)");
    peer.close();
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_FALSE(result);
    auto closed = co_await client_->wait_closed(1s);
    EXPECT_FALSE(closed);
    if (!closed) {
      EXPECT_EQ(closed.error().errc(), Errc::backend_failed) << closed.error().what();
    }
  }());
}

TEST_F(QmpClientTest, GarbageFromPeerIsAProtocolErrorThatEndsTheConnection) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.read_command();
    co_await peer.send("[\"not\", \"an object\"]");
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_FALSE(result);
    if (!result) {
      EXPECT_EQ(result.error().errc(), Errc::protocol);
      EXPECT_TRUE(mentions(result.error(), "expected a JSON object, got an array")) << result.error().what();
    }
    auto closed = co_await client_->wait_closed(1s);
    EXPECT_FALSE(closed);
    if (!closed) {
      EXPECT_EQ(closed.error().errc(), Errc::protocol);
    }
  }());
}

TEST_F(QmpClientTest, SecondGreetingIsAProtocolError) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.read_command();
    co_await peer.send(transcript::kGreeting);
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_FALSE(result);
    if (!result) {
      EXPECT_TRUE(mentions(result.error(), "unexpected second QMP greeting")) << result.error().what();
    }
  }());
}

TEST_F(QmpClientTest, TimedOutCommandDropsItsLateReplyAndTheConnectionStaysUsable) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    auto slow = co_await peer.read_command();
    auto next = co_await peer.read_command();  // sent after the client gave up on `slow`
    co_await peer.reply(slow, R"("late")");
    co_await peer.send(transcript::kParseErrorNoId);  // an id-less error matches nothing either
    co_await peer.reply(next, R"("fresh")");
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto slow = co_await client_->execute("query-slow", {}, 50ms);
    EXPECT_FALSE(slow);
    if (!slow) {
      EXPECT_EQ(slow.error().errc(), Errc::timeout);
      EXPECT_TRUE(mentions(slow.error(), "QMP command 'query-slow': no reply within 50 ms")) << slow.error().what();
    }
    auto next = co_await client_->execute("query-next", {}, 2s);
    EXPECT_TRUE(next);
    if (next) {
      EXPECT_EQ(*next, json::value("fresh"));
    }
    EXPECT_EQ(client_->stray_replies(), 2u);
  }());
}

TEST_F(QmpClientTest, EventsAreBufferedUntilAHandlerSubscribesThenDeliveredLiveInOrder) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.send(transcript::kStopEvent);
    co_await peer.send(transcript::kResumeEvent);
    auto sync = co_await peer.read_command();
    co_await peer.reply(sync, "{}");  // arrives after both events: they are buffered by now
    auto sync2 = co_await peer.read_command();
    co_await peer.send(transcript::kShutdownEvent);
    co_await peer.reply(sync2, "{}");
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    EXPECT_TRUE(co_await client_->execute("query-status"));
    std::vector<std::string> seen;
    client_->on_event([&](const QmpEvent& event) { seen.push_back(event.name); });
    EXPECT_EQ(seen, (std::vector<std::string>{"STOP", "RESUME"})) << "backlog is handed over synchronously";
    EXPECT_TRUE(co_await client_->execute("query-status"));
    EXPECT_EQ(seen, (std::vector<std::string>{"STOP", "RESUME", "SHUTDOWN"}));
    auto polled = co_await client_->next_event(10ms);
    EXPECT_FALSE(polled);
    if (!polled) {
      EXPECT_EQ(polled.error().errc(), Errc::bad_state);
    }
  }());
}

TEST_F(QmpClientTest, ThrowingEventHandlerEndsTheConnectionInsteadOfHanging) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.read_command();
    co_await peer.send(transcript::kStopEvent);
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    client_->on_event([](const QmpEvent&) { throw std::runtime_error("handler bug"); });
    auto result = co_await client_->execute("query-status", {}, 20s);
    EXPECT_FALSE(result);
    if (!result) {
      EXPECT_EQ(result.error().errc(), Errc::internal);
      EXPECT_TRUE(mentions(result.error(), "handler bug")) << result.error().what();
    }
  }());
}

TEST_F(QmpClientTest, CloseFailsPendingCommandsAsCancelled) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> { co_await peer.read_command(); });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    std::optional<Result<json::value>> pending;
    boost::asio::co_spawn(io_, execute_into(*client_, "query-status", {}, pending), boost::asio::detached);
    co_await sleep_for(20ms);
    client_->close();
    client_->close();  // idempotent
    while (!pending) co_await sleep_for(1ms);
    EXPECT_FALSE(*pending);
    if (!*pending) {
      EXPECT_EQ(pending->error().errc(), Errc::cancelled);
    }
    EXPECT_TRUE(co_await client_->wait_closed(1s));
  }());
}

TEST_F(QmpClientTest, DestroyingTheClientWhileCommandsWaitIsSafe) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> { co_await peer.read_command(); });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    std::optional<Result<json::value>> pending;
    boost::asio::co_spawn(io_, execute_into(*client_, "query-status", {}, pending), boost::asio::detached);
    co_await sleep_for(20ms);
    client_.reset();
    while (!pending) co_await sleep_for(1ms);
    EXPECT_FALSE(*pending);
    if (!*pending) {
      EXPECT_EQ(pending->error().errc(), Errc::cancelled);
    }
  }());
}

class QmpClientSmallLimitsTest : public QmpClientTest {
 protected:
  QmpClientSmallLimitsTest() : QmpClientTest(QmpClientOptions{.max_message_bytes = 1024, .max_buffered_events = 2}) {}
};

TEST_F(QmpClientSmallLimitsTest, OversizedMessageIsAProtocolError) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    auto command = co_await peer.read_command();
    co_await peer.reply(command, "\"" + std::string(900, 'x') + "\"");  // fits
    auto big = co_await peer.read_command();
    co_await peer.send_raw(R"({"return": ")" + std::string(4096, 'x'));  // no newline in sight
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    auto fits = co_await client_->execute("query-fits", {}, 2s);
    EXPECT_TRUE(fits) << fits.error().what();
    auto big = co_await client_->execute("query-big", {}, 20s);
    EXPECT_FALSE(big);
    if (!big) {
      EXPECT_EQ(big.error().errc(), Errc::protocol);
      EXPECT_TRUE(mentions(big.error(), "exceeds the 1024-byte limit")) << big.error().what();
    }
  }());
}

TEST_F(QmpClientSmallLimitsTest, FullEventBufferDropsTheOldest) {
  serve([](FakeQmpPeer& peer) -> awaitable<void> {
    co_await peer.send(transcript::kStopEvent);
    co_await peer.send(transcript::kResumeEvent);
    co_await peer.send(transcript::kShutdownEvent);
    auto command = co_await peer.read_command();
    co_await peer.reply(command, "{}");
  });
  run_to_completion(io_, [&]() -> awaitable<void> {
    co_await handshake_ok();
    EXPECT_TRUE(co_await client_->execute("query-status"));
    EXPECT_EQ(client_->dropped_events(), 1u);
    auto first = co_await client_->next_event(1s);
    EXPECT_TRUE(first);
    if (first) {
      EXPECT_EQ(first->name, "RESUME");
    }
  }());
}

}  // namespace
}  // namespace firerun::qemu
