// firerund: the HTTP daemon running code in throwaway microVMs.
//   firerund --config /etc/firerun/firerund.yaml
//   firerund --check-config /etc/firerun/firerund.yaml
#include "api.h"
#include "ci_service.h"
#include "config.h"
#include "fleet_link.h"
#include "metrics.h"
#include "server.h"
#include "vm_runner.h"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <cstdio>
#include <filesystem>
#include <map>

namespace asio = boost::asio;
using namespace firerun;
using namespace firerun::daemon;

namespace {

/// Holds an exclusive lock on <state_dir>/firerund.lock (kept open for the
/// process's life): a second daemon on the same state would otherwise
/// "recover" the first one's live jobs and run its queue a second time.
Result<int> lock_state_dir(const std::filesystem::path& state_dir) {
  const auto path = state_dir / "firerund.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error(Errc::io, "opening " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : std::string("unknown");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Error(Errc::already_exists, "state_dir " + state_dir.string() + " is in use by another firerund (pid " +
                                           holder + "); refusing to start");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0)
    spdlog::warn("cannot record the pid in {}: {}", path.string(), std::strerror(errno));
  return fd;
}

/// Every connection is a descriptor: use what the hard limit allows (the
/// server still backs off cleanly at EMFILE).
void raise_open_file_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1u << 20);
  (void)::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"firerund: runs untrusted code in throwaway microVMs behind an HTTP API"};
  std::string config_path, check_path;
  app.add_option("-c,--config", config_path, "YAML configuration file (FIRERUN_* environment variables override it)");
  app.add_option("--check-config", check_path, "Validate a configuration file and exit");
  CLI11_PARSE(app, argc, argv);
  // Logs go to stderr (journald); stdout carries only the "listening on" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("firerund"));
  // A closed stdout (the supervisor stopped reading) must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  if (!check_path.empty()) {
    auto checked = load_config(check_path);
    if (!checked) {
      std::fprintf(stderr, "firerund: invalid configuration: %s\n", checked.error().what().c_str());
      return 2;
    }
    std::printf("%s: OK\n", check_path.c_str());
    return 0;
  }
  auto loaded = load_config(config_path);
  if (!loaded) {
    std::fprintf(stderr, "firerund: invalid configuration: %s\n", loaded.error().what().c_str());
    return 2;
  }
  const Config config = std::move(*loaded);
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  std::error_code fs_ec;
  std::filesystem::create_directories(config.state_dir, fs_ec);
  if (fs_ec) {
    std::fprintf(stderr, "firerund: creating state_dir %s: %s\n", config.state_dir.c_str(), fs_ec.message().c_str());
    return 1;
  }
  // Job payloads, results and CI deliveries live here: the daemon's alone.
  if (::chmod(config.state_dir.c_str(), 0700) != 0) {
    std::fprintf(stderr, "firerund: chmod 0700 %s: %s\n", config.state_dir.c_str(), std::strerror(errno));
    return 1;
  }
  // One daemon per state_dir, for its whole life, before anything in it is read.
  auto lock = lock_state_dir(config.state_dir);
  if (!lock) {
    std::fprintf(stderr, "firerund: %s\n", lock.error().what().c_str());
    return 1;
  }
  raise_open_file_limit();

  // Containment is checked before anything runs: a host that cannot jail is
  // an error unless the operator said jail: off, which is loud at every start.
  if (!config.jail.enabled) {
    spdlog::warn("jail: off — VMMs run unconfined as uid {} with this daemon's privileges (docs/security.md)",
                 static_cast<unsigned>(::geteuid()));
  } else if (auto jailed = check_jail_support(config.jail); !jailed) {
    std::fprintf(stderr, "firerund: %s\n", jailed.error().what().c_str());
    return 1;
  }

  asio::io_context io;
  Metrics metrics;
  // One runner per job kind. The CI service needs the scheduler, so its runner
  // reaches it through a pointer set before any job can run (io.run() below).
  std::unique_ptr<CiService> ci;
  std::map<std::string, scheduler::Runner> runners{{"code", make_vm_runner(config, metrics, io.get_executor())}};
  runners["ci"] = [&ci](const scheduler::Job& job, scheduler::JobContext& ctx) -> Task<Result<scheduler::JobOutcome>> {
    if (!ci) return [](std::string kind) -> Task<Result<scheduler::JobOutcome>> {
      co_return Error(Errc::unsupported, "job kind '" + kind + "' needs ci.* configuration");
    }("ci");
    return ci->run(job, ctx);
  };
  scheduler::Runner dispatch = [&runners](const scheduler::Job& job,
                                          scheduler::JobContext& ctx) -> Task<Result<scheduler::JobOutcome>> {
    auto it = runners.find(job.kind);
    if (it == runners.end()) return [](std::string kind) -> Task<Result<scheduler::JobOutcome>> {
      co_return Error(Errc::unsupported, "no runner for job kind '" + kind + "'");
    }(job.kind);
    return it->second(job, ctx);
  };
  auto made = scheduler::make_scheduler(scheduler_options(config), dispatch, io.get_executor());
  if (!made) {
    std::fprintf(stderr, "firerund: %s\n", made.error().what().c_str());
    return 1;
  }
  std::unique_ptr<scheduler::Scheduler> scheduler = std::move(*made);
  scheduler->on_finished([&metrics](const scheduler::JobRecord& r) {
    if (r.started_ms && r.finished_ms) metrics.job_duration.observe(double(*r.finished_ms - *r.started_ms) / 1000.0);
  });

  if (config.ci.enabled()) {
    auto created = CiService::create(config, *scheduler, metrics, io.get_executor());
    if (!created) {
      std::fprintf(stderr, "firerund: %s\n", created.error().what().c_str());
      return 1;
    }
    ci = std::move(*created);
    ci->start();
  }
  Api api(config, *scheduler, metrics, ci.get());
  auto linked = FleetLink::create(config.fleet, *scheduler, config.limits.max_concurrent_jobs, io.get_executor(),
                                  [&config](const scheduler::Job& job) { return admit_queued_job(job, config); });
  if (!linked) {
    std::fprintf(stderr, "firerund: %s\n", linked.error().what().c_str());
    return 1;
  }
  std::unique_ptr<FleetLink> fleet = std::move(*linked);
  api.set_fleet_hooks([&fleet](std::string reason) { fleet->drain(std::move(reason)); }, [&fleet] { fleet->resume(); },
                      [&fleet] { return fleet->render_metrics(); });
  fleet->start();
  Server server(io.get_executor(), api, config.limits);
  auto endpoint = server.listen(config.listen);
  if (!endpoint) {
    std::fprintf(stderr, "firerund: %s\n", endpoint.error().what().c_str());
    return 1;
  }
  // Tests and supervisors read the bound address (port 0 picks a free one) from this line.
  std::printf("firerund listening on %s:%u\n", endpoint->address().to_string().c_str(), endpoint->port());
  std::fflush(stdout);
  std::string ci_providers;
  for (const auto& [name, settings] : config.ci.providers) ci_providers += (ci_providers.empty() ? "" : ", ") + name;
  spdlog::info("listening on {}:{} (backend {}, images {}, state {}, auth {}, ci {})", endpoint->address().to_string(),
               endpoint->port(), config.backend, config.image_cache.string(), config.state_dir.string(),
               config.auth_token.empty() ? "off" : "bearer token", ci_providers.empty() ? "off" : ci_providers);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping (grace {} ms)", signal, config.shutdown_grace_ms);
    server.stop_accepting();
    api.begin_shutdown();
    if (ci) ci->stop();
    asio::co_spawn(
        io,
        [&]() -> Task<void> {
          co_await fleet->stop();
          co_await scheduler->shutdown(std::chrono::milliseconds(config.shutdown_grace_ms));
          io.stop();
        },
        asio::detached);
  });
  io.run();
  spdlog::info("stopped");
  return 0;
}
