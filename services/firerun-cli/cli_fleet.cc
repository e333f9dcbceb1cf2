// `firerun fleet hosts|provision|terminate|reconcile|user-data|spot-event`:
// operate a pool of hosts through the cloud provider a fleet file names.
// Exit codes: 0 ok, 1 the provider (or a parser) failed, 2 the configuration
// is wrong, 3 (spot-event) the document is not a spot interruption.
#include "cli.h"
#include "cloud/aws/credential_providers.h"
#include "cloud/aws/spot_events.h"
#include "cloud/fleet_config.h"
#include "cloud/reconciler.h"

#include <boost/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

namespace firerun::cli {
namespace {

using namespace firerun::cloud;

constexpr int kExitProviderError = 1;
constexpr int kExitConfigError = 2;
constexpr int kExitNotSpotInterruption = 3;

int fail(const Error& e, int code) {
  std::fprintf(stderr, "firerun: error: %s\n", e.what().c_str());
  return code;
}

// Provider logs (capacity breaker, fallbacks) go to stderr so stdout stays machine-readable.
void log_to_stderr() {
  static const bool done = [] {
    spdlog::set_default_logger(spdlog::stderr_color_mt("firerun-fleet"));
    return true;
  }();
  (void)done;
}

struct Fleet {
  FleetConfig config;
  std::unique_ptr<CloudProvider> provider;
};

// Loads the file and creates its provider through the registry. Every failure here is the
// configuration's (exit 2). With `with_user_data` the rendered user-data is handed to the
// provider as its "user_data" option (a provider that cannot bootstrap hosts rejects it).
Result<Fleet> open_fleet(const std::string& file, bool with_user_data) {
  Fleet fleet;
  FIRERUN_TRY(fleet.config, load_fleet_config(file));
  CloudProviderConfig options = fleet.config.provider_options;
  if (with_user_data && fleet.config.user_data) {
    FIRERUN_TRY(options.options["user_data"], render_fleet_user_data(fleet.config));
  }
  CloudProviderRegistry registry;
  FIRERUN_CHECK(register_builtin_cloud_providers(registry));
  FIRERUN_TRY(auto factory, add_context(registry.find(fleet.config.provider), fleet.config.source + ": provider"));
  FIRERUN_TRY(fleet.provider, add_context(factory->create(options), fleet.config.source + ": options"));
  return fleet;
}

HostFilter pool_filter(const FleetConfig& config, bool all_states) {
  HostFilter f;
  f.tags[std::string(kPoolTag)] = config.pool;
  if (!all_states) f.states = {HostState::pending, HostState::running};
  return f;
}

std::string format_time(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t) return "-";
  const std::time_t secs = std::chrono::system_clock::to_time_t(*t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

boost::json::object host_json(const Host& h) {
  boost::json::object tags;
  for (const auto& [k, v] : h.tags) tags[k] = v;
  boost::json::object o{{"id", h.id},
                        {"instance_type", h.instance_type},
                        {"availability_zone", h.availability_zone},
                        {"lifecycle", to_string(h.lifecycle)},
                        {"state", to_string(h.state)},
                        {"private_address", h.private_address},
                        {"public_address", h.public_address},
                        {"tags", std::move(tags)}};
  if (h.launch_time) o["launch_time"] = format_time(h.launch_time);
  if (h.vcpus) o["vcpus"] = h.vcpus;
  if (h.memory_mib) o["memory_mib"] = h.memory_mib;
  return o;
}

void print_hosts(const std::vector<Host>& hosts, bool json) {
  if (json) {
    boost::json::array out;
    for (const auto& h : hosts) out.push_back(host_json(h));
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return;
  }
  std::printf("%-21s %-14s %-12s %-9s %-13s %-15s %-20s %s\n", "ID", "TYPE", "ZONE", "LIFECYCLE", "STATE", "PRIVATE",
              "PUBLIC", "LAUNCHED");
  for (const auto& h : hosts)
    std::printf("%-21s %-14s %-12s %-9s %-13s %-15s %-20s %s\n", h.id.c_str(), or_dash(h.instance_type).c_str(),
                or_dash(h.availability_zone).c_str(), std::string(to_string(h.lifecycle)).c_str(),
                std::string(to_string(h.state)).c_str(), or_dash(h.private_address).c_str(),
                or_dash(h.public_address).c_str(), format_time(h.launch_time).c_str());
}

struct FleetArgs {
  std::string config;
  bool json = false;
  bool all = false;
  std::uint32_t count = 1;
  std::vector<std::string> ids;
  std::uint64_t queue_depth = 0;
  bool dry_run = false;
  std::vector<std::string> idle;
  std::string event_file;
};

int run_hosts(const FleetArgs& a) {
  auto fleet = open_fleet(a.config, false);
  if (!fleet) return fail(fleet.error(), kExitConfigError);
  auto hosts = fleet->provider->describe(pool_filter(fleet->config, a.all));
  if (!hosts) return fail(add_context(std::move(hosts), "describing pool " + fleet->config.pool).error(), kExitProviderError);
  print_hosts(*hosts, a.json);
  return 0;
}

int run_provision(const FleetArgs& a) {
  auto fleet = open_fleet(a.config, true);
  if (!fleet) return fail(fleet.error(), kExitConfigError);
  HostRequest request = fleet->config.request;
  request.count = a.count;
  if (auto valid = request.validate(); !valid) return fail(valid.error(), kExitConfigError);
  auto hosts = fleet->provider->provision(request);
  if (!hosts) return fail(add_context(std::move(hosts), "provisioning for pool " + fleet->config.pool).error(), kExitProviderError);
  print_hosts(*hosts, a.json);
  if (!a.json) {
    const auto spot = std::count_if(hosts->begin(), hosts->end(), [](const Host& h) { return h.lifecycle == Lifecycle::spot; });
    std::fprintf(stderr, "firerun: provisioned %zu host(s) in pool %s: %td spot, %td on-demand\n", hosts->size(),
                 fleet->config.pool.c_str(), spot, static_cast<std::ptrdiff_t>(hosts->size()) - spot);
  }
  return 0;
}

int run_terminate(const FleetArgs& a) {
  auto fleet = open_fleet(a.config, false);
  if (!fleet) return fail(fleet.error(), kExitConfigError);
  auto done = fleet->provider->terminate(a.ids);
  if (!done) return fail(add_context(std::move(done), "terminating").error(), kExitProviderError);
  for (const auto& id : a.ids) std::printf("terminated %s\n", id.c_str());
  return 0;
}

// The CLI cannot see per-host job counts (the controller can): every host counts as busy unless
// named with --idle, which marks it idle for longer than the grace period.
PoolObservation observe(const std::vector<Host>& hosts, const FleetArgs& a, const PoolPolicy& policy) {
  PoolObservation obs;
  obs.queued_jobs = a.queue_depth;
  obs.now = std::chrono::system_clock::now();
  for (const auto& h : hosts) {
    PoolHost ph;
    ph.id = h.id;
    ph.state = h.state;
    if (std::find(a.idle.begin(), a.idle.end(), h.id) != a.idle.end()) ph.idle_since = obs.now - policy.idle_grace;
    obs.hosts.push_back(std::move(ph));
  }
  return obs;
}

int run_reconcile(const FleetArgs& a) {
  auto fleet = open_fleet(a.config, !a.dry_run);
  if (!fleet) return fail(fleet.error(), kExitConfigError);
  auto hosts = fleet->provider->describe(pool_filter(fleet->config, false));
  if (!hosts) return fail(add_context(std::move(hosts), "describing pool " + fleet->config.pool).error(), kExitProviderError);
  for (const auto& id : a.idle)
    if (std::none_of(hosts->begin(), hosts->end(), [&](const Host& h) { return h.id == id; }))
      return fail(Error(Errc::not_found, "--idle " + id + ": not an active host of pool " + fleet->config.pool),
                  kExitConfigError);
  PoolReconciler reconciler(*fleet->provider, fleet->config.policy, fleet->config.request, a.dry_run, std::cout);
  auto decision = reconciler.step(observe(*hosts, a, fleet->config.policy));
  std::cout.flush();
  if (!decision) return fail(decision.error(), kExitProviderError);
  if (!a.dry_run) std::printf("applied: %s\n", describe(*decision).c_str());
  return 0;
}

int run_user_data(const FleetArgs& a) {
  auto config = load_fleet_config(a.config);
  if (!config) return fail(config.error(), kExitConfigError);
  auto text = render_fleet_user_data(*config);
  if (!text) return fail(text.error(), kExitConfigError);
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

int run_spot_event(const FleetArgs& a) {
  std::ifstream in(a.event_file, std::ios::binary);
  if (!in) return fail(Error(Errc::not_found, "cannot open '" + a.event_file + "'"), kExitConfigError);
  // Notices are small; never read more than the parsers would accept (the path may be a device).
  constexpr std::size_t kMaxNoticeBytes = 1 << 20;
  std::string text(kMaxNoticeBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxNoticeBytes)
    return fail(Error(Errc::protocol, a.event_file + ": larger than 1 MiB, not a spot notice"), kExitProviderError);
  auto notice = aws::parse_spot_notice(text);
  if (!notice) {
    const int code = notice.error() == Errc::invalid_argument ? kExitNotSpotInterruption : kExitProviderError;
    return fail(add_context(std::move(notice), a.event_file).error(), code);
  }
  const auto& n = *notice;
  if (a.json) {
    boost::json::object o{{"instance_id", n.instance_id},
                          {"action", aws::to_string(n.action)},
                          {"region", n.region},
                          {"availability_zone", n.availability_zone}};
    o["time"] = n.time ? boost::json::value(format_time(n.time)) : boost::json::value(nullptr);
    std::printf("%s\n", boost::json::serialize(o).c_str());
    return 0;
  }
  std::printf("instance_id: %s\naction: %s\ntime: %s\nregion: %s\navailability_zone: %s\n",
              n.instance_id.empty() ? "(this instance)" : n.instance_id.c_str(),
              std::string(aws::to_string(n.action)).c_str(), format_time(n.time).c_str(), or_dash(n.region).c_str(),
              or_dash(n.availability_zone).c_str());
  return 0;
}

}  // namespace

void add_fleet_commands(CLI::App& app, int& exit_code) {
  auto* fleet = app.add_subcommand("fleet", "Provision and inspect the hosts of a fleet (see docs/cloud.md)");
  fleet->require_subcommand(1);
  auto args = std::make_shared<FleetArgs>();
  auto with_config = [&](CLI::App* cmd) {
    cmd->add_option("--config", args->config, "Fleet YAML file")->required();
    return cmd;
  };
  auto run = [args, &exit_code](int (*command)(const FleetArgs&)) {
    return [args, &exit_code, command] {
      log_to_stderr();
      exit_code = command(*args);
    };
  };

  auto* hosts = with_config(fleet->add_subcommand("hosts", "List the pool's pending and running hosts"));
  hosts->add_flag("--json", args->json, "JSON array instead of a table");
  hosts->add_flag("--all", args->all, "Include stopped and terminated hosts");
  hosts->callback(run(run_hosts));

  auto* provision = with_config(fleet->add_subcommand("provision", "Create hosts (spot first, then on-demand, per the config)"));
  provision->add_option("--count", args->count, "Number of hosts (all or nothing)")->check(CLI::Range(1, 1000));
  provision->add_flag("--json", args->json, "JSON array instead of a table");
  provision->callback(run(run_provision));

  auto* terminate = with_config(fleet->add_subcommand("terminate", "Terminate (or release) hosts by id"));
  terminate->add_option("ids", args->ids, "Host ids")->required();
  terminate->callback(run(run_terminate));

  auto* reconcile = with_config(fleet->add_subcommand("reconcile", "Run the pool reconciler once"));
  reconcile->add_option("--queue-depth", args->queue_depth, "Jobs waiting for a host")->required();
  reconcile->add_flag("--dry-run", args->dry_run, "Print the plan; change nothing");
  reconcile->add_option("--idle", args->idle, "Host ids known to be idle past the grace period (may scale in)");
  reconcile->callback(run(run_reconcile));

  auto* user_data = with_config(fleet->add_subcommand("user-data", "Render a new host's cloud-init user-data (token redacted)"));
  user_data->callback(run(run_user_data));

  auto* spot = fleet->add_subcommand("spot-event", "Parse a spot interruption notice (EventBridge event or IMDS document)");
  spot->add_option("file", args->event_file, "Event or IMDS document")->required();
  spot->add_flag("--json", args->json, "JSON output");
  spot->callback(run(run_spot_event));
}

}  // namespace firerun::cli
