#include "image/command.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace firerun::image::detail {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void close_end(int i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
};

std::string describe(const std::vector<std::string>& argv) {
  std::string s;
  for (std::size_t i = 0; i < argv.size() && i < 4; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  if (argv.size() > 4) s += " ...";
  return s;
}

std::string tail(const std::string& s, std::size_t n) {
  std::string t = s.size() > n ? "..." + s.substr(s.size() - n) : s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

Error sys_error(const std::string& what, int err) {
  return Error(boost::system::error_code(err, boost::system::system_category()), what + ": " + std::strerror(err));
}

}  // namespace

Result<CommandOutput> run_command(const std::vector<std::string>& argv, const CommandOptions& options) {
  if (argv.empty() || argv[0].empty()) return make_error(Errc::invalid_argument, "empty command");
  Pipe out, err;
  if (::pipe2(out.fds, O_CLOEXEC) != 0 || ::pipe2(err.fds, O_CLOEXEC) != 0)
    return sys_error("creating pipes for " + argv[0], errno);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fds[1], 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  std::vector<std::string> env_storage;
  for (char** e = environ; e && *e; ++e) env_storage.emplace_back(*e);
  // Tools' messages are parsed and shown to users: keep them in one language.
  env_storage.emplace_back("LC_ALL=C");
  env_storage.emplace_back("DEBIAN_FRONTEND=noninteractive");
  for (const auto& kv : options.extra_env) env_storage.push_back(kv);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    Errc code = rc == ENOENT ? Errc::not_found : Errc::io;
    return make_error(code, "cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  out.close_end(1);
  err.close_end(1);

  CommandOutput result;
  bool overflow = false;
  pollfd pfds[2] = {{out.fds[0], POLLIN, 0}, {err.fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.stdout_data, &result.stderr_data};
  int open_streams = 2;
  char buf[65536];
  while (open_streams > 0) {
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(pfds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        pfds[i].fd = -1;
        --open_streams;
        continue;
      }
      if (sinks[i]->size() + static_cast<std::size_t>(n) > options.output_cap) {
        overflow = true;  // keep draining so the child never blocks on a full pipe
        continue;
      }
      sinks[i]->append(buf, static_cast<std::size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    return make_error(Errc::io, describe(argv) + " killed by signal " + std::to_string(WTERMSIG(status)) + ": " +
                                    tail(result.stderr_data, 2000));
  if (WEXITSTATUS(status) != 0)
    return make_error(Errc::io, describe(argv) + " exited with status " + std::to_string(WEXITSTATUS(status)) + ": " +
                                    tail(result.stderr_data, 2000));
  if (overflow) return make_error(Errc::limit_exceeded, describe(argv) + " printed more than the output cap");
  return result;
}

}  // namespace firerun::image::detail
