// firerund against hostile clients and unlucky operators (issue: daemon
// hardening): connection floods, descriptor exhaustion, oversized and
// malformed requests, slow clients, DNS rebinding, a second daemon on the same
// state, a synchronous client that hangs up, and output that is not text.
// Everything talks raw TCP to a real firerund; the last tests boot real VMs.
#include "daemon_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <regex>
#include <sstream>

namespace firerun::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

/// A plain blocking TCP connection to the daemon, for requests no well-behaved
/// client library would send.
class RawConnection {
 public:
  explicit RawConnection(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  /// Sends everything; false if the peer closed (EPIPE/ECONNRESET).
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads until the peer closes or `limit` passes; `reset` tells whether it ended with ECONNRESET.
  std::string read_until_close(std::chrono::milliseconds limit, bool* reset = nullptr) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    if (reset) *reset = false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && reset) *reset = errno == ECONNRESET;
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  /// True when the peer has closed (EOF readable now).
  bool closed_by_peer(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK) <= 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// The status code of a raw HTTP answer (0 when there is none).
unsigned status_of(const std::string& response) {
  std::smatch m;
  static const std::regex status_line(R"(^HTTP/1\.[01] (\d{3}) )");
  return std::regex_search(response, m, status_line) ? static_cast<unsigned>(std::stoi(m[1])) : 0u;
}

/// The JSON body of a raw HTTP answer (Content-Length framed).
json::value body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  if (at == std::string::npos) throw std::runtime_error("no header end in: " + response);
  return json::parse(response.substr(at + 4));
}

std::string post_head(const std::string& target, std::uint64_t length, const std::string& extra = {}) {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(length) + "\r\n" + extra + "\r\n";
}

/// A /v1/execute body of exactly `size` bytes whose language does not exist:
/// accepted by the HTTP layer, refused by the API with 400 (no VM needed).
std::string padded_body(std::size_t size) {
  const std::string head = R"({"lang":"no-such-language","code":")", tail = R"("})";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

std::size_t count_lines_containing(const std::filesystem::path& log, const std::string& needle) {
  std::ifstream in(log);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

/// One daemon for the HTTP-layer tests: 4 MiB bodies, 1 s to send a request.
class HostileClients : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("hostile");
    daemon_ = new Daemon(dir_->path, {{"FIRERUN_LIMITS_MAX_BODY_BYTES", std::to_string(4u << 20)},
                                      {"FIRERUN_LIMITS_MAX_CODE_BYTES", std::to_string(4u << 20)},
                                      {"FIRERUN_LIMITS_REQUEST_TIMEOUT_MS", "1000"},
                                      {"FIRERUN_LIMITS_IDLE_TIMEOUT_MS", "1000"},
                                      {"FIRERUN_AUTH_ADMIN_TOKEN", "admin-token-for-tests-0123"}});
    daemon_->log_to(dir_->path / "daemon.log");
    daemon_->start();
  }
  static void TearDownTestSuite() {
    int status = daemon_->terminate();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    delete daemon_;
    delete dir_;
  }
  static inline TempDir* dir_ = nullptr;
  static inline Daemon* daemon_ = nullptr;
};

TEST_F(HostileClients, TheRoutesBodyLimitHoldsForContentLengthAndChunked) {
  // 2 MiB under a 4 MiB limit: read and parsed (400 for the unknown language),
  // where Beast's own 1 MiB default used to drop the connection.
  {
    RawConnection c(daemon_->port());
    const auto body = padded_body(2u << 20);
    ASSERT_TRUE(c.send(post_head("/v1/execute", body.size()) + body));
    const auto answer = c.read_until_close(10s);
    EXPECT_EQ(status_of(answer), 400u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("no-such-language"), std::string::npos);
  }
  // 5 MiB with Content-Length: 413 with a JSON error, read by the client, no reset.
  {
    RawConnection c(daemon_->port());
    const auto body = padded_body(5u << 20);
    c.send(post_head("/v1/execute", body.size()) + body);
    bool reset = false;
    const auto answer = c.read_until_close(10s, &reset);
    EXPECT_EQ(status_of(answer), 413u) << answer.substr(0, 300);
    EXPECT_FALSE(reset);
    EXPECT_EQ(body_of(answer).at("error").at("code"), "limit_exceeded");
  }
  // 5 MiB chunked: the same.
  {
    RawConnection c(daemon_->port());
    c.send("POST /v1/execute HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk(64 * 1024, 'x');
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    for (int i = 0; i < 80 && c.send(std::string(size_line) + chunk + "\r\n"); ++i) {
    }
    c.send("0\r\n\r\n");
    bool reset = false;
    const auto answer = c.read_until_close(10s, &reset);
    EXPECT_EQ(status_of(answer), 413u) << answer.substr(0, 300);
    EXPECT_FALSE(reset);
  }
}

TEST_F(HostileClients, MalformedRequestsGetAStatusNotASilentClose) {
  struct Case {
    std::string name, request;
    unsigned status;
  };
  const std::vector<Case> cases{
      {"oversized headers", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
       431},
      {"oversized target", "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414},
      {"oversized target past the header limit", "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"garbage", "HELLO THERE\r\n\r\n", 400},
      {"HTTP/0.9", "GET /healthz\r\n\r\n", 400},
      {"Content-Length with Transfer-Encoding",
       "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400},
      {"two Content-Lengths", "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       400},
  };
  for (const auto& c : cases) {
    RawConnection conn(daemon_->port());
    conn.send(c.request);
    const auto answer = conn.read_until_close(5s);
    EXPECT_EQ(status_of(answer), c.status) << c.name << ": " << answer.substr(0, 200);
    if (status_of(answer)) {
      EXPECT_TRUE(body_of(answer).at("error").is_object()) << c.name;
    }
  }
  EXPECT_EQ(daemon_->get("/healthz").status, 200u) << "still serving";
}

TEST_F(HostileClients, SlowClientsAreTimedOutAndIdleKeepAliveIsClosed) {
  // Slowloris: a header byte every 200 ms never completes within 1 s.
  RawConnection slow(daemon_->port());
  const auto started = std::chrono::steady_clock::now();
  std::string answer;
  slow.send("GET /healthz HTTP/1.1\r\n");
  for (int i = 0; i < 30; ++i) {
    if (!slow.send("X")) break;
    answer += slow.read_until_close(200ms);
    if (!answer.empty()) break;
  }
  answer += slow.read_until_close(2s);
  EXPECT_EQ(status_of(answer), 408u) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  // A trickled body is cut the same way.
  RawConnection trickle(daemon_->port());
  trickle.send(post_head("/v1/jobs", 1000));
  for (int i = 0; i < 15 && trickle.send("x"); ++i) std::this_thread::sleep_for(200ms);
  EXPECT_EQ(status_of(trickle.read_until_close(3s)), 408u);
  // Keep-alive: answered, then closed after the 1 s idle timeout.
  RawConnection idle(daemon_->port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const auto first = idle.read_until_close(500ms);
  EXPECT_EQ(status_of(first), 200u);
  EXPECT_TRUE(idle.closed_by_peer(3s)) << "an idle keep-alive connection must be closed";
}

TEST_F(HostileClients, AuthAndAdmissionAreDecidedBeforeTheBodyIsRead) {
  // The admin route, no token: answered from the header alone (the 4 MiB body is never sent).
  RawConnection c(daemon_->port());
  c.send(post_head("/v1/admin/drain", 4u << 20));
  const auto answer = c.read_until_close(3s);
  EXPECT_EQ(status_of(answer), 401u) << answer;
  // Unknown route: 404 without the body either.
  RawConnection d(daemon_->port());
  d.send(post_head("/v1/nothing-here", 4u << 20));
  EXPECT_EQ(status_of(d.read_until_close(3s)), 404u);
}

TEST_F(HostileClients, DnsRebindingAndCrossSiteRequestsAreRefusedWithoutAToken) {
  auto request = [&](const std::string& headers) {
    RawConnection c(daemon_->port());
    c.send("POST /v1/jobs HTTP/1.1\r\n" + headers + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    return c.read_until_close(3s);
  };
  EXPECT_EQ(status_of(request("Host: attacker.example\r\n")), 403u);
  EXPECT_EQ(status_of(request("Host: attacker.example:" + std::to_string(daemon_->port()) + "\r\n")), 403u);
  EXPECT_EQ(status_of(request("Host: 127.0.0.1:1\r\n")), 403u) << "another port is another origin";
  EXPECT_EQ(status_of(request("Host: 127.0.0.1\r\nOrigin: https://attacker.example\r\n")), 403u);
  EXPECT_EQ(status_of(request("Host: 127.0.0.1\r\nOrigin: null\r\n")), 403u);
  // This server under its own names: past admission (400: the body is not a job).
  EXPECT_EQ(status_of(request("Host: 127.0.0.1:" + std::to_string(daemon_->port()) + "\r\n")), 400u);
  EXPECT_EQ(status_of(request("Host: localhost:" + std::to_string(daemon_->port()) + "\r\nOrigin: http://localhost:" +
                              std::to_string(daemon_->port()) + "\r\n")),
            400u);
}

TEST_F(HostileClients, AdminRoutesNeedTheAdminTokenAndDrainCanBeUndone) {
  const std::string admin = "admin-token-for-tests-0123";
  EXPECT_EQ(daemon_->post("/v1/admin/drain", "{}").status, 401u);
  EXPECT_EQ(daemon_->post("/v1/admin/drain", "{}", "wrong-token-wrong-token").status, 401u);
  EXPECT_EQ(daemon_->post("/v1/admin/drain", R"({"reason":"maintenance"})", admin).status, 202u);
  auto refused = daemon_->post("/v1/jobs", R"({"lang":"bash","code":"true"})");
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_NE(refused.body.find("maintenance"), std::string::npos);
  EXPECT_EQ(http_request(daemon_->port(), http::verb::delete_, "/v1/admin/drain", {}, admin).status, 200u);
  auto accepted = daemon_->post("/v1/jobs", R"({"lang":"no-such-language","code":"true"})");
  EXPECT_EQ(accepted.status, 400u) << "intake is open again (refused only for the language): " << accepted.body;
}

TEST_F(HostileClients, StateIsPrivateAndASecondDaemonOnItRefusesToStart) {
  struct ::stat st {};
  ASSERT_EQ(::stat(dir_->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_->path / "jobs.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Daemon second(dir_->path);
  std::string errors;
  const int status = second.run_expecting_exit(errors);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_NE(errors.find("is in use by another firerund (pid " + std::to_string(daemon_->pid()) + ")"),
            std::string::npos)
      << errors;
  EXPECT_EQ(daemon_->get("/healthz").status, 200u) << "the first daemon is untouched";
}

/// Bytes a process has read through read()-like calls (files and sockets).
std::uint64_t bytes_read_by(int pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value)
    if (key == "rchar:") return value;
  return 0;
}

TEST_F(HostileClients, HealthEndpointsDoNotReadImageFilesOnEveryCall) {
  // The first call verifies the images (hashing their files: ~900 MB here);
  // the next 1,000 reuse that verification while the files are unchanged.
  ASSERT_EQ(daemon_->get("/readyz").status, 200u);
  ASSERT_EQ(daemon_->get("/api/v2/runtimes").status, 200u);
  ASSERT_EQ(daemon_->get("/v1/languages").status, 200u);
  const std::uint64_t before = bytes_read_by(daemon_->pid());
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 1000; ++i) {
    const char* target = i % 3 == 0 ? "/readyz" : i % 3 == 1 ? "/api/v2/runtimes" : "/v1/languages";
    ASSERT_EQ(daemon_->get(target).status, 200u) << target;
  }
  const std::uint64_t read = bytes_read_by(daemon_->pid()) - before;
  EXPECT_LT(read, 2u << 20) << "1,000 health calls read " << read << " bytes (requests are ~100 bytes each)";
}

TEST(HostileFlood, IdleConnectionsAndFewDescriptorsDoNotStopService) {
  // 200 descriptors, 500 idle connections: the oldest idle ones are closed
  // to make room, a real request is still served, and the log is not flooded.
  TempDir dir("flood");
  Daemon daemon(dir.path, {{"FIRERUN_LOG_LEVEL", "info"}});
  daemon.limit_open_files(200);
  daemon.log_to(dir.path / "daemon.log");
  daemon.start();
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 500; ++i) idle.push_back(std::make_unique<RawConnection>(daemon.port()));
  std::this_thread::sleep_for(500ms);
  const auto started = std::chrono::steady_clock::now();
  auto served = daemon.get("/healthz");
  EXPECT_EQ(served.status, 200u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  idle.clear();
  EXPECT_EQ(daemon.get("/healthz").status, 200u);
  EXPECT_LE(count_lines_containing(dir.path / "daemon.log", "accept:"), 3u) << "accept errors are summarised";
  EXPECT_EQ(daemon.terminate(), 0);
}

/// Real VMs: a client that hangs up, and guest output that is not UTF-8.
class HostileGuests : public HostileClients {};

TEST_F(HostileGuests, ASynchronousClientThatHangsUpCancelsItsJob) {
  const double cancelled_before = daemon_->metric("firerun_jobs_total{status=\"cancelled\"}");
  {
    RawConnection c(daemon_->port());
    const std::string body = R"({"lang":"bash","code":"sleep 50","timeout_ms":60000})";
    ASSERT_TRUE(c.send(post_head("/v1/execute", body.size()) + body));
    for (int i = 0; i < 300 && daemon_->metric("firerun_vms_active") < 1; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(daemon_->metric("firerun_vms_active"), 1);
  }  // hangs up
  const auto hung_up = std::chrono::steady_clock::now();
  while (daemon_->metric("firerun_vms_active") > 0 && std::chrono::steady_clock::now() - hung_up < 10s)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(daemon_->metric("firerun_vms_active"), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - hung_up, 3s) << "the VM is stopped promptly";
  EXPECT_EQ(daemon_->metric("firerun_jobs_total{status=\"cancelled\"}"), cancelled_before + 1);
  EXPECT_EQ(daemon_->metric("firerun_jobs_running"), 0);
}

TEST_F(HostileGuests, OutputThatIsNotUtf8StaysValidJsonEverywhere) {
  // Binary bytes, then a multibyte character cut in half at the end.
  const std::string code = R"(printf 'bin\377\376 caf\303')";
  const std::string fffd = "\xef\xbf\xbd";
  const std::string expected = "bin" + fffd + fffd + " caf" + fffd;
  auto sync = daemon_->post("/v1/execute", json::serialize(json::object{{"lang", "bash"}, {"code", code},
                                                                       {"output_encoding", "base64"}}));
  ASSERT_EQ(sync.status, 200u) << sync.body;
  auto result = sync.json().as_object();  // throws if not valid JSON
  EXPECT_EQ(std::string(result.at("stdout").as_string()), expected);
  EXPECT_EQ(result.at("stdout_base64"), "Ymlu//4gY2Fmww==") << "the exact bytes";

  auto queued = daemon_->post("/v1/jobs", json::serialize(json::object{{"lang", "bash"}, {"code", code}}));
  ASSERT_EQ(queued.status, 202u) << queued.body;
  auto job = wait_job(*daemon_, std::string(queued.json().at("id").as_string()));
  EXPECT_EQ(job.at("status"), "completed");
  ASSERT_TRUE(job.at("result").is_object()) << json::serialize(job);
  EXPECT_EQ(std::string(job.at("result").at("stdout").as_string()), expected);

  auto piston = daemon_->post("/api/v2/execute", json::serialize(json::object{
                                                     {"language", "bash"},
                                                     {"version", "*"},
                                                     {"files", json::array{json::object{{"content", code}}}}}));
  ASSERT_EQ(piston.status, 200u) << piston.body;
  EXPECT_EQ(std::string(piston.json().at("run").at("stdout").as_string()), expected);
}

/// Retries only for the host's failures: one daemon whose clients may run as
/// the guest's root (so their code can bring its own VM down), two attempts.
class RetryBlame : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("blame");
    daemon_ = new Daemon(dir_->path, {{"FIRERUN_LIMITS_ALLOW_ROOT", "true"}, {"FIRERUN_SCHEDULER_MAX_ATTEMPTS", "2"}});
    daemon_->start();
  }
  static void TearDownTestSuite() {
    daemon_->terminate();
    delete daemon_;
    delete dir_;
  }
  static json::object run_job(const json::object& body) {
    auto queued = daemon_->post("/v1/jobs", json::serialize(body));
    EXPECT_EQ(queued.status, 202u) << queued.body;
    return wait_job(*daemon_, std::string(queued.json().at("id").as_string()));
  }
  static inline TempDir* dir_ = nullptr;
  static inline Daemon* daemon_ = nullptr;
};

TEST_F(RetryBlame, AGuestTheJobBringsDownIsTheJobsFailureAndNotRetried) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"kernel panic", "echo c > /proc/sysrq-trigger; sleep 5"},
      {"reboot", "echo b > /proc/sysrq-trigger; sleep 5"},
  };
  for (const auto& [what, code] : cases) {
    auto job = run_job({{"lang", "bash"}, {"code", code}, {"root", true}, {"timeout_ms", 20000}});
    EXPECT_EQ(job.at("status"), "failed") << what << ": " << json::serialize(job);
    EXPECT_EQ(job.at("attempts"), 1) << what << ": the user's failure is never retried";
    ASSERT_TRUE(job.contains("error")) << what;
    EXPECT_EQ(job.at("error").at("code"), "guest_failed") << what << ": " << json::serialize(job);
    EXPECT_EQ(job.at("error").at("origin"), "guest") << what;
  }
  // Even root cannot forge agent frames: the kernel lets one process hold a
  // virtio-serial port, and the agent holds its own.
  auto forge = run_job({{"lang", "bash"},
                        {"code", "for port in /dev/vport*p*; do head -c 4096 /dev/urandom > \"$port\"; done; echo tried"},
                        {"root", true}});
  EXPECT_EQ(forge.at("status"), "completed") << json::serialize(forge);
  if (forge.contains("result")) {
    EXPECT_EQ(forge.at("result").at("stdout"), "tried\n");
    EXPECT_NE(std::string(forge.at("result").at("stderr").as_string()).find("Device or resource busy"),
              std::string::npos)
        << json::serialize(forge);
  }
  // Asking for root where it is not allowed is a clear 400 (the default).
  TempDir other("blame-noroot");
  Daemon plain(other.path);
  plain.start();
  auto refused = plain.post("/v1/execute", R"({"lang":"bash","code":"id -u","root":true})");
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("limits.allow_root"), std::string::npos) << refused.body;
  plain.terminate();
}

TEST_F(RetryBlame, AVmmKilledByTheHostIsRetried) {
  auto queued = daemon_->post("/v1/jobs", R"({"lang":"bash","code":"sleep 6; echo second attempt","timeout_ms":30000})");
  ASSERT_EQ(queued.status, 202u) << queued.body;
  const std::string id(queued.json().at("id").as_string());
  // The job's VMM: a QEMU child of the daemon, once the job's code runs.
  int vmm = 0;
  for (int i = 0; i < 300 && vmm == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    if (daemon_->metric("firerun_vms_active") < 1) continue;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      const auto open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state;
      int ppid = 0;
      rest >> state >> ppid;
      if (ppid == daemon_->pid() && line.substr(open + 1, close - open - 1).rfind("qemu", 0) == 0)
        vmm = std::stoi(entry.path().filename().string());
    }
  }
  ASSERT_GT(vmm, 0) << "no QEMU process under the daemon";
  std::this_thread::sleep_for(1500ms);  // the job's code is running now
  ASSERT_EQ(::kill(vmm, SIGKILL), 0);
  auto job = wait_job(*daemon_, id);
  EXPECT_EQ(job.at("status"), "completed") << json::serialize(job);
  EXPECT_EQ(job.at("attempts"), 2) << "the host's failure is retried";
  if (job.contains("result")) {
    EXPECT_EQ(job.at("result").at("stdout"), "second attempt\n");
  }
}

}  // namespace
}  // namespace firerun::testing
