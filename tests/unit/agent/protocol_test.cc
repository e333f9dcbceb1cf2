#include "firerun/agent_protocol.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace firerun::agent {
namespace {

std::string frame(MessageType type, std::uint32_t id, std::string_view payload) {
  auto f = encode_frame(type, id, payload);
  EXPECT_TRUE(f) << (f ? "" : f.error().what());
  return f ? *f : std::string();
}

std::string header(char m0, char m1, std::uint8_t version, std::uint8_t type, std::uint32_t id, std::uint32_t len) {
  std::string h{m0, m1, static_cast<char>(version), static_cast<char>(type)};
  for (std::uint32_t v : {id, len})
    for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<char>((v >> shift) & 0xff));
  return h;
}

Frame decode_one(std::string_view bytes) {
  FrameDecoder d;
  d.feed(bytes);
  auto r = d.next();
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
  EXPECT_TRUE(r && *r);
  EXPECT_EQ(d.buffered(), 0u);
  return (r && *r) ? **r : Frame{};
}

std::string binary_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

TEST(AgentFrame, HeaderLayoutIsBigEndian) {
  std::string f = frame(MessageType::exec, 0x01020304, "xyz");
  ASSERT_EQ(f.size(), kHeaderSize + 3);
  EXPECT_EQ(f.substr(0, kHeaderSize), header('F', 'R', 1, 2, 0x01020304, 3));
  EXPECT_EQ(f.substr(kHeaderSize), "xyz");
}

TEST(AgentFrame, EveryTypeRoundTripsWithBinaryPayload) {
  for (int t = 1; t <= 13; ++t) {
    auto type = static_cast<MessageType>(t);
    std::string payload = binary_bytes(static_cast<std::size_t>(t) * 37);
    Frame f = decode_one(frame(type, 1000u + t, payload));
    EXPECT_EQ(f.type, type);
    EXPECT_EQ(f.request_id, 1000u + t);
    EXPECT_EQ(f.payload, payload);
    EXPECT_STRNE(message_type_name(type), "unknown");
  }
}

TEST(AgentFrame, MaxPayloadAcceptedOneMoreRejected) {
  std::string big(kMaxPayload, 'a');
  Frame f = decode_one(frame(MessageType::stdout_chunk, 1, big));
  EXPECT_EQ(f.payload.size(), kMaxPayload);
  auto too_big = encode_frame(MessageType::stdout_chunk, 1, std::string(kMaxPayload + 1, 'a'));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().errc(), Errc::invalid_argument);
}

TEST(AgentFrame, SplitAtEveryByteBoundary) {
  std::string stream = frame(MessageType::exec, 1, "{\"argv\":[\"true\"]}") + frame(MessageType::ok, 2, "") +
                       frame(MessageType::stdin_chunk, 3, binary_bytes(100));
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder d;
    std::vector<Frame> frames;
    for (std::string_view part : {std::string_view(stream).substr(0, split), std::string_view(stream).substr(split)}) {
      d.feed(part);
      for (;;) {
        auto r = d.next();
        ASSERT_TRUE(r) << "split " << split << ": " << r.error().what();
        if (!*r) break;
        frames.push_back(std::move(**r));
      }
    }
    ASSERT_EQ(frames.size(), 3u) << "split " << split;
    EXPECT_EQ(frames[0].request_id, 1u);
    EXPECT_EQ(frames[1].type, MessageType::ok);
    EXPECT_EQ(frames[2].payload, binary_bytes(100));
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(AgentFrame, ByteAtATimeFeedsNeverErrOrCompleteEarly) {
  std::string f = frame(MessageType::stderr_chunk, 9, "hello");
  FrameDecoder d;
  for (std::size_t i = 0; i + 1 < f.size(); ++i) {
    d.feed(f.substr(i, 1));
    auto r = d.next();
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << "frame complete after " << i + 1 << " bytes";
  }
  d.feed(f.substr(f.size() - 1));
  auto r = d.next();
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->payload, "hello");
}

void expect_rejected_then_recovers(const std::string& bad, const char* needle) {
  FrameDecoder d;
  d.feed(bad);
  auto r = d.next();
  ASSERT_FALSE(r) << "accepted: " << needle;
  EXPECT_EQ(r.error().errc(), Errc::protocol);
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  EXPECT_EQ(d.buffered(), 0u);  // resynchronised: the garbage is gone
  d.feed(frame(MessageType::ok, 4, ""));
  auto good = d.next();
  ASSERT_TRUE(good && *good);
  EXPECT_EQ((*good)->request_id, 4u);
}

TEST(AgentFrame, BadMagicRejectedEvenBeforeFullHeader) {
  expect_rejected_then_recovers("X", "magic");
  expect_rejected_then_recovers("FX", "magic");
  expect_rejected_then_recovers(header('R', 'F', 1, 1, 0, 0), "magic");
}

TEST(AgentFrame, BadVersionRejected) {
  expect_rejected_then_recovers(header('F', 'R', 2, 1, 0, 0), "version");
  expect_rejected_then_recovers(header('F', 'R', 0, 1, 0, 0), "version");
}

TEST(AgentFrame, UnknownTypeRejected) {
  for (std::uint8_t t : {0, 14, 99, 255}) expect_rejected_then_recovers(header('F', 'R', 1, t, 0, 0), "type");
}

TEST(AgentFrame, OversizeLengthRejectedWithoutWaitingForPayload) {
  expect_rejected_then_recovers(header('F', 'R', 1, 4, 0, kMaxPayload + 1), "exceeds");
  expect_rejected_then_recovers(header('F', 'R', 1, 4, 0, 0xffffffffu), "exceeds");
}

TEST(AgentFrame, TruncatedHeaderAndPayloadWait) {
  std::string f = frame(MessageType::stdout_chunk, 1, "abcdef");
  for (std::size_t n : {std::size_t{2}, kHeaderSize - 1, kHeaderSize, f.size() - 1}) {
    FrameDecoder d;
    d.feed(f.substr(0, n));
    auto r = d.next();
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
    EXPECT_EQ(d.buffered(), n);
  }
}

TEST(AgentMessages, HelloRoundTrip) {
  Hello h{1, "0.1.0", 1234, "6.1.0-firerun"};
  auto back = decode_hello(encode_hello(h));
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ(back->protocol_version, 1u);
  EXPECT_EQ(back->agent_version, "0.1.0");
  EXPECT_EQ(back->boot_time_ms, 1234u);
  EXPECT_EQ(back->kernel_release, "6.1.0-firerun");
}

TEST(AgentMessages, ExecRoundTrip) {
  ExecRequest r;
  r.argv = {"sh", "-c", "echo \"$X\""};
  r.env = {{"X", "y z"}, {"EMPTY", ""}};
  r.cwd = "/tmp";
  r.uid = 1000;
  r.gid = 4294967295u;
  r.timeout = std::chrono::milliseconds(1500);
  r.output_cap = 123;
  r.stdin_data = "ignored: travels in stdin frames";
  auto back = decode_exec(encode_exec(r));
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ(back->request.argv, r.argv);
  EXPECT_EQ(back->request.env, r.env);
  EXPECT_EQ(back->request.cwd, "/tmp");
  EXPECT_EQ(back->request.uid, 1000u);
  EXPECT_EQ(back->request.gid, 4294967295u);
  EXPECT_EQ(back->request.timeout.count(), 1500);
  EXPECT_EQ(back->request.output_cap, 123u);
  EXPECT_TRUE(back->has_stdin);
  EXPECT_FALSE(back->request.stdin_data);
}

TEST(AgentMessages, ExecDefaultsForOptionalFields) {
  auto back = decode_exec(R"({"argv":["true"]})");
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ(back->request.cwd, "/");
  EXPECT_EQ(back->request.output_cap, kDefaultOutputCap);
  EXPECT_EQ(back->request.timeout.count(), 0);
  EXPECT_FALSE(back->has_stdin);
}

TEST(AgentMessages, ExitRoundTripBothShapes) {
  ExecResult exited;
  exited.exit_code = 7;
  exited.stdout_truncated = true;
  exited.duration = std::chrono::milliseconds(42);
  exited.stdout_data = "not sent";
  auto a = decode_exit(encode_exit(exited));
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_EQ(a->exit_code, 7);
  EXPECT_FALSE(a->signal);
  EXPECT_TRUE(a->stdout_truncated);
  EXPECT_FALSE(a->stderr_truncated);
  EXPECT_EQ(a->duration.count(), 42);
  EXPECT_TRUE(a->stdout_data.empty());

  ExecResult killed;
  killed.signal = 9;
  killed.timed_out = true;
  auto b = decode_exit(encode_exit(killed));
  ASSERT_TRUE(b) << b.error().what();
  EXPECT_EQ(b->signal, 9);
  EXPECT_FALSE(b->exit_code);
  EXPECT_TRUE(b->timed_out);
}

TEST(AgentMessages, FileMessagesRoundTripBinary) {
  WriteFile w{"/etc/x", 0600, true, binary_bytes(5000)};
  auto wp = encode_write_file(w);
  ASSERT_TRUE(wp);
  auto wb = decode_write_file(*wp);
  ASSERT_TRUE(wb) << wb.error().what();
  EXPECT_EQ(wb->path, "/etc/x");
  EXPECT_EQ(wb->mode, 0600u);
  EXPECT_TRUE(wb->append);
  EXPECT_EQ(wb->data, w.data);

  ReadFile r{"/etc/y", 77, 100};
  auto rb = decode_read_file(encode_read_file(r));
  ASSERT_TRUE(rb) << rb.error().what();
  EXPECT_EQ(rb->path, "/etc/y");
  EXPECT_EQ(rb->offset, 77u);
  EXPECT_EQ(rb->max_bytes, 100u);

  FileData d{99999, binary_bytes(300)};
  auto dp = encode_file_data(d);
  ASSERT_TRUE(dp);
  auto db = decode_file_data(*dp);
  ASSERT_TRUE(db) << db.error().what();
  EXPECT_EQ(db->total_size, 99999u);
  EXPECT_EQ(db->data, d.data);

  EXPECT_FALSE(encode_write_file(WriteFile{"/a", 0644, false, std::string(kMaxFileSlice + 1, 'x')}));
}

TEST(AgentMessages, ReseedAndErrorRoundTrip) {
  Reseed r{binary_bytes(64), 1700000000123456789};
  auto rp = encode_reseed(r);
  ASSERT_TRUE(rp);
  auto rb = decode_reseed(*rp);
  ASSERT_TRUE(rb) << rb.error().what();
  EXPECT_EQ(rb->entropy, r.entropy);
  EXPECT_EQ(rb->unix_time_ns, r.unix_time_ns);
  auto no_clock = decode_reseed(*encode_reseed(Reseed{"abc", std::nullopt}));
  ASSERT_TRUE(no_clock);
  EXPECT_FALSE(no_clock->unix_time_ns);

  Error e = decode_error(encode_error(Errc::not_found, "no such file /x"));
  EXPECT_EQ(e.errc(), Errc::not_found);
  EXPECT_NE(e.message().find("no such file /x"), std::string::npos);
  EXPECT_EQ(decode_error(R"({"errc":999,"message":"?"})").errc(), Errc::guest_failed);
  auto long_message = encode_error(Errc::io, std::string(100000, 'm'));
  EXPECT_LT(long_message.size(), 10000u);
}

void expect_protocol_error(const Result<ExecStart>& r, const char* input) {
  ASSERT_FALSE(r) << "accepted " << input;
  EXPECT_EQ(r.error().errc(), Errc::protocol) << input;
}

TEST(AgentMessages, HostileExecJsonRejected) {
  const char* cases[] = {
      "",
      "null",
      "[]",
      "{",
      R"({"argv":"ls"})",
      R"({"argv":[]})",
      R"({"argv":[1]})",
      R"({"argv":[""]})",
      R"({"argv":["a\u0000b"]})",
      R"({"argv":["ls"],"env":[]})",
      R"({"argv":["ls"],"env":{"A":1}})",
      R"({"argv":["ls"],"env":{"A=B":"x"}})",
      R"({"argv":["ls"],"env":{"":"x"}})",
      R"({"argv":["ls"],"cwd":5})",
      R"({"argv":["ls"],"cwd":""})",
      R"({"argv":["ls"],"uid":-1})",
      R"({"argv":["ls"],"uid":4294967296})",
      R"({"argv":["ls"],"gid":1.5})",
      R"({"argv":["ls"],"timeout_ms":"5"})",
      R"({"argv":["ls"],"timeout_ms":18446744073709551615})",
      R"({"argv":["ls"],"output_cap":-5})",
      R"({"argv":["ls"],"has_stdin":"yes"})",
  };
  for (const char* c : cases) expect_protocol_error(decode_exec(c), c);
}

TEST(AgentMessages, HugeArraysAndDeepNestingRejected) {
  std::string argv = R"({"argv":[)";
  for (int i = 0; i < 5000; ++i) argv += (i ? ",\"a\"" : "\"a\"");
  argv += "]}";
  expect_protocol_error(decode_exec(argv), "5000 argv entries");
  std::string deep = R"({"argv":["ls"],"env":)" + std::string(10000, '[') + std::string(10000, ']') + "}";
  expect_protocol_error(decode_exec(deep), "deep nesting");
}

TEST(AgentMessages, HostileOtherPayloadsRejected) {
  EXPECT_FALSE(decode_hello(R"({"protocol_version":"1","agent_version":"x"})"));
  EXPECT_FALSE(decode_hello(R"({"protocol_version":1})"));
  EXPECT_FALSE(decode_exit(R"({})"));
  EXPECT_FALSE(decode_exit(R"({"exit_code":0,"signal":9})"));
  EXPECT_FALSE(decode_exit(R"({"exit_code":256})"));
  EXPECT_FALSE(decode_exit(R"({"exit_code":-1})"));
  EXPECT_FALSE(decode_exit(R"({"signal":0})"));
  EXPECT_FALSE(decode_exit(R"({"exit_code":0,"timed_out":1})"));
  EXPECT_FALSE(decode_read_file(R"({"path":"relative"})"));
  EXPECT_FALSE(decode_read_file(R"({"path":"/x","max_bytes":4294967295})"));
  EXPECT_FALSE(decode_write_file(""));
  EXPECT_FALSE(decode_write_file(std::string("\xff\xff\xff\xff{}", 6)));
  EXPECT_FALSE(decode_write_file(std::string("\0\0\0\x02[]", 6)));
  EXPECT_FALSE(decode_write_file(std::string("\0\0\0\x02{}", 6)));  // no path
  EXPECT_FALSE(decode_file_data(std::string("\0\0\0\x02{}", 6)));   // no total_size
  EXPECT_FALSE(decode_reseed(std::string("\0\0\0\x13{\"unix_time_ns\":-1}", 23)));
  EXPECT_EQ(decode_error("[1]").errc(), Errc::protocol);
  EXPECT_EQ(decode_error(R"({"errc":"x"})").errc(), Errc::protocol);
  for (const auto& r : {decode_exit("{"), decode_exit("[]")}) EXPECT_EQ(r.error().errc(), Errc::protocol);
}

TEST(AgentMessages, RandomBytesNeverCrashDecoders) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    (void)decode_exec(junk);
    (void)decode_exit(junk);
    (void)decode_write_file(junk);
    (void)decode_file_data(junk);
    (void)decode_reseed(junk);
    FrameDecoder d;
    d.feed(junk);
    (void)d.next();
  }
}

}  // namespace
}  // namespace firerun::agent
