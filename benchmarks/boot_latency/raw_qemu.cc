#include "raw_qemu.h"

#include "core/process.h"
#include "firerun/agent_protocol.h"
#include "vm/qemu/accel.h"
#include "vm/qemu/argv_builder.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace firerun::bench {
namespace {

using Clock = std::chrono::steady_clock;
using detail::UniqueFd;

struct Pair {
  UniqueFd ours;    // close-on-exec
  UniqueFd qemus;   // inherited by QEMU at the same number
};

Result<Pair> inheritable_socketpair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return Error(Errc::io, std::string("socketpair: ") + std::strerror(errno));
  Pair p{UniqueFd(sv[0]), UniqueFd(sv[1])};
  ::fcntl(p.ours.get(), F_SETFD, FD_CLOEXEC);
  return p;
}

// Kills and reaps QEMU however the measurement ends.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Result<RawBoot> raw_qemu_boot(const QemuOptions& options, const VmSpec& spec) {
  FIRERUN_CHECK(validate(spec));
  // The clock starts where Vm::start() would: before the accelerator choice.
  const auto t0 = Clock::now();
  FIRERUN_TRY(auto accel, qemu::choose_accelerator(options.accel));
  FIRERUN_TRY(auto console, inheritable_socketpair());
  FIRERUN_TRY(auto agent, inheritable_socketpair());
  FIRERUN_TRY(auto qmp, inheritable_socketpair());
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Error(Errc::io, std::string("pipe: ") + std::strerror(errno));
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  const qemu::ChannelFds fds{console.qemus.get(), agent.qemus.get(), qmp.qemus.get()};
  const std::vector<std::string> argv = qemu::build_qemu_argv(options, spec, accel, fds);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  Child child;
  child.pid = ::fork();
  if (child.pid < 0) return Error(Errc::io, std::string("fork: ") + std::strerror(errno));
  if (child.pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err_write.get(), 2);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  console.qemus = {};
  agent.qemus = {};
  qmp.qemus = {};
  err_write = {};

  // Drain every channel QEMU writes to (as firerun does), stop at the first agent frame.
  agent::FrameDecoder decoder;
  std::string stderr_text;
  const auto deadline = t0 + spec.boot_timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Error(Errc::timeout, "raw QEMU: no agent hello within " +
                                                   std::to_string(spec.boot_timeout.count()) + " ms");
    pollfd pfds[] = {{agent.ours.get(), POLLIN, 0},
                     {console.ours.get(), POLLIN, 0},
                     {qmp.ours.get(), POLLIN, 0},
                     {err_read.get(), POLLIN, 0}};
    int n = ::poll(pfds, 4, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(Errc::io, std::string("poll: ") + std::strerror(errno));
    for (int i = 1; i < 4; ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t got = ::read(pfds[i].fd, buf, sizeof buf);
      if (i == 3 && got > 0 && stderr_text.size() < 4096) stderr_text.append(buf, static_cast<std::size_t>(got));
      if (got <= 0) pfds[i].fd = -1;
    }
    if (pfds[0].revents & (POLLIN | POLLHUP)) {
      ssize_t got = ::read(agent.ours.get(), buf, sizeof buf);
      if (got <= 0)
        return Error(Errc::backend_failed, "raw QEMU: agent channel closed before hello" +
                                               (stderr_text.empty() ? std::string() : ": " + stderr_text));
      decoder.feed(std::string_view(buf, static_cast<std::size_t>(got)));
      FIRERUN_TRY(auto frame, decoder.next());
      if (frame) {
        RawBoot boot{ms_since(t0), 0, accel.name};
        if (frame->type != agent::MessageType::hello)
          return Error(Errc::protocol, std::string("raw QEMU: first agent frame was ") +
                                           agent::message_type_name(frame->type));
        FIRERUN_TRY(auto hello, agent::decode_hello(frame->payload));
        boot.guest_boot_ms = static_cast<double>(hello.boot_time_ms);
        return boot;
      }
    }
  }
}

}  // namespace firerun::bench
