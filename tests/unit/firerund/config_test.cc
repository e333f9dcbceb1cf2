#include "cloud/user_data.h"
#include "config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>

namespace firerun::daemon {
namespace {

std::string error_of(std::string_view yaml, std::map<std::string, std::string> env = {}) {
  auto c = parse_config(yaml, env);
  return c ? std::string("<ok>") : c.error().what();
}

TEST(Config, DefaultsAreValid) {
  auto c = parse_config("", {});
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->limits.max_body_bytes, 1u << 20);
  EXPECT_TRUE(c->auth_token.empty());
  EXPECT_FALSE(c->image_cache.empty());
}

TEST(Config, ParsesEveryDocumentedKey) {
  auto c = parse_config(R"(
listen: 0.0.0.0:9000
auth: none
state_dir: /tmp/state
image_cache: /tmp/cache
backend: qemu:///?accel=tcg
log_level: debug
limits:
  max_body_bytes: 2048
  max_code_bytes: 1024
  max_output_bytes: 4096
  max_timeout_ms: 5000
  default_timeout_ms: 1000
  max_memory_mb: 1024
  default_memory_mb: 512
  max_vcpus: 4
  max_concurrent_jobs: 3
  max_queue: 10
  rate_limit_per_second: 2.5
  rate_limit_burst: 5
  request_timeout_ms: 100
  idle_timeout_ms: 200
  max_connections: 50
  max_connections_per_client: 5
  max_header_bytes: 4096
  max_target_bytes: 1024
scheduler:
  cpu_overcommit: 2
  memory_overcommit: 1.5
  host_vcpus: 8
  host_memory_mb: 4096
  max_attempts: 3
  on_restart: retry
  shutdown_grace_ms: 0
  boot_allowance_ms: 1000
)", {});
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->listen, "0.0.0.0:9000");
  EXPECT_EQ(c->state_dir, "/tmp/state");
  EXPECT_EQ(c->backend, "qemu:///?accel=tcg");
  EXPECT_EQ(c->limits.max_code_bytes, 1024u);
  EXPECT_DOUBLE_EQ(c->limits.rate_limit_per_second, 2.5);
  EXPECT_EQ(c->limits.max_concurrent_jobs, 3u);
  EXPECT_DOUBLE_EQ(c->cpu_overcommit, 2.0);
  EXPECT_EQ(c->on_restart, scheduler::InterruptedPolicy::retry);
  EXPECT_EQ(c->shutdown_grace_ms, 0u);
  EXPECT_TRUE(c->auth_none);
  EXPECT_EQ(c->limits.max_connections, 50u);
  EXPECT_EQ(c->limits.max_connections_per_client, 5u);
  EXPECT_EQ(c->limits.max_header_bytes, 4096u);
  EXPECT_EQ(c->limits.max_target_bytes, 1024u);
  auto o = scheduler_options(*c);
  EXPECT_EQ(o.workers, 3u);
  EXPECT_EQ(o.database, std::filesystem::path("/tmp/state/jobs.db"));
  EXPECT_EQ(o.max_attempts, 3u);
}

TEST(Config, ErrorsNameTheOffendingKey) {
  EXPECT_EQ(error_of("limits:\n  max_body_bytes: -5\n"), "limits.max_body_bytes: must be a positive integer [invalid_argument]");
  EXPECT_EQ(error_of("limits:\n  max_body_bytes: lots\n"), "limits.max_body_bytes: must be a positive integer [invalid_argument]");
  EXPECT_EQ(error_of("limits:\n  max_body_bytes: 0\n"), "limits.max_body_bytes: must be a positive integer [invalid_argument]");
  EXPECT_NE(error_of("limits:\n  max_queue: [1, 2]\n").find("limits.max_queue: must be a single value"), std::string::npos);
  EXPECT_NE(error_of("limts:\n  max_queue: 1\n").find("limts.max_queue: unknown key"), std::string::npos);
  EXPECT_NE(error_of("listen: nowhere\n").find("listen: must be host:port"), std::string::npos);
  EXPECT_NE(error_of("listen: 1.2.3.4:70000\n").find("listen: port must be at most 65535"), std::string::npos);
  EXPECT_NE(error_of("scheduler:\n  on_restart: maybe\n").find("scheduler.on_restart"), std::string::npos);
  EXPECT_NE(error_of("scheduler:\n  cpu_overcommit: 0\n").find("scheduler.cpu_overcommit: must be a positive number"),
            std::string::npos);
  EXPECT_NE(error_of("log_level: loud\n").find("log_level"), std::string::npos);
  EXPECT_NE(error_of("limits:\n  default_timeout_ms: 99999999\n").find("limits.default_timeout_ms"), std::string::npos);
  EXPECT_NE(error_of("listen: [unclosed\n").find("malformed YAML"), std::string::npos);
  EXPECT_NE(error_of("- a\n- b\n").find("must be a mapping"), std::string::npos);
}

TEST(Config, EnvironmentOverridesTheFile) {
  std::map<std::string, std::string> env{{"FIRERUN_LISTEN", "127.0.0.1:0"},
                                         {"FIRERUN_LIMITS_MAX_QUEUE", "7"},
                                         {"FIRERUN_SCHEDULER_ON_RESTART", "retry"}};
  auto c = parse_config("listen: 10.0.0.1:80\nauth: none\nlimits:\n  max_queue: 100\n", env);
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->limits.max_queue, 7u);
  EXPECT_EQ(c->on_restart, scheduler::InterruptedPolicy::retry);
  EXPECT_NE(error_of("", {{"FIRERUN_LIMITS_MAX_QUEUE", "x"}}).find("limits.max_queue"), std::string::npos);
  EXPECT_EQ(env_name_for("limits.max_body_bytes"), "FIRERUN_LIMITS_MAX_BODY_BYTES");
}

TEST(Config, TokenFromFileOrEnvironmentAndNeverInErrors) {
  const std::string secret = "s3cr3t-token-value-1234567890";
  auto path = std::filesystem::temp_directory_path() / ("cfg-token-" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << secret << "\n";
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto c = parse_config("auth:\n  token_file: " + path.string() + "\n", {});
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->auth_token, secret);
  {
    std::ofstream out(path);
    out << "short\n";
  }
  auto weak = parse_config("auth:\n  token_file: " + path.string() + "\n", {});
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().what().find("short"), std::string::npos) << "errors must not echo the token";
  std::filesystem::remove(path);
  auto missing = parse_config("auth:\n  token_file: /nonexistent/token\n", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().what().find("auth.token_file"), std::string::npos);
  auto from_env = parse_config("", {{"FIRERUN_AUTH_TOKEN", secret}});
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env->auth_token, secret);
}

TEST(Config, SafeAuthDefaults) {
  // Reachable from the network without a token: refused unless said on purpose.
  const auto open = error_of("listen: 0.0.0.0:8080\n");
  EXPECT_NE(open.find("listen: 0.0.0.0:8080 is not a loopback address and no auth token is set"), std::string::npos)
      << open;
  EXPECT_NE(error_of("listen: '[::]:8080'\n").find("not a loopback address"), std::string::npos);
  EXPECT_TRUE(parse_config("listen: 0.0.0.0:8080\nauth: none\n", {}));
  EXPECT_TRUE(parse_config("listen: 0.0.0.0:8080\n", {{"FIRERUN_AUTH_TOKEN", "a-token-of-16-chars+"}}));
  EXPECT_TRUE(parse_config("listen: '[::1]:8080'\n", {}));
  EXPECT_NE(error_of("auth: open\n").find("auth: must be"), std::string::npos);
  EXPECT_NE(error_of("auth: none\n", {{"FIRERUN_AUTH_TOKEN", "a-token-of-16-chars+"}}).find("contradicts"),
            std::string::npos);
  // The admin token is its own.
  auto admin = parse_config("", {{"FIRERUN_AUTH_ADMIN_TOKEN", "admin-token-of-16-chars"}});
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->admin_token, "admin-token-of-16-chars");
  EXPECT_NE(error_of("", {{"FIRERUN_AUTH_ADMIN_TOKEN", "same-token-of-16-chars"},
                          {"FIRERUN_AUTH_TOKEN", "same-token-of-16-chars"}})
                .find("must differ"),
            std::string::npos);
  // A token file others can read is not a secret.
  auto path = std::filesystem::temp_directory_path() / ("cfg-open-token-" + std::to_string(::getpid()));
  std::ofstream(path) << "a-token-that-is-long-enough\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                         std::filesystem::perms::others_read);
  const auto readable = error_of("auth:\n  token_file: " + path.string() + "\n");
  EXPECT_NE(readable.find("has mode 0604"), std::string::npos) << readable;
  EXPECT_EQ(readable.find("long-enough"), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Config, TheHostBootstrapConfigurationIsOneFirerundAccepts) {
  // What a new EC2 host gets from the default cloud-init template (before:
  // keys firerund refused, so new hosts crash-looped).
  auto rendered = cloud::render_user_data(cloud::default_user_data_template(),
                                          {{"firerund_url", "https://downloads.example.com/firerund"},
                                           {"firerund_sha256", std::string(64, 'a')},
                                           {"fleet_queue", "redis://queue.internal:6379/0?prefix=ci"},
                                           {"queue_password_parameter", "/firerun/ci/queue-password"},
                                           {"fleet_key_parameter", "/firerun/ci/fleet-key"}});
  ASSERT_TRUE(rendered) << rendered.error().what();
  std::string content = YAML::Load(*rendered)["write_files"][0]["content"].as<std::string>();
  EXPECT_EQ(content.find("password:"), std::string::npos) << "no secret in user-data";
  // At boot the password lands in a 0600 file; here, a temporary one.
  const auto password_file = std::filesystem::temp_directory_path() / ("cfg-queue-pw-" + std::to_string(::getpid()));
  std::ofstream(password_file) << "s3cret-queue-password\n";
  std::filesystem::permissions(password_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string boot_path = "/etc/firerun/queue-password";
  ASSERT_NE(content.find(boot_path), std::string::npos);
  content.replace(content.find(boot_path), boot_path.size(), password_file.string());
  const auto key_file = std::filesystem::temp_directory_path() / ("cfg-fleet-key-" + std::to_string(::getpid()));
  std::ofstream(key_file) << std::string(48, 'k') << "\n";
  std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string key_path = "/etc/firerun/fleet-key";
  ASSERT_NE(content.find(key_path), std::string::npos);
  content.replace(content.find(key_path), key_path.size(), key_file.string());
  auto c = parse_config(content, {});
  ASSERT_TRUE(c) << c.error().what() << "\n" << content;
  EXPECT_EQ(c->fleet.queue, "redis://:s3cret-queue-password@queue.internal:6379/0?prefix=ci");
  EXPECT_TRUE(c->fleet.spot_watch.enabled);
  EXPECT_EQ(c->fleet.spot_watch.provider, "aws") << "the provider whose notices are watched";
  EXPECT_EQ(c->fleet.key, std::string(48, 'k'));
  EXPECT_TRUE(is_loopback_listen(c->listen));
  // Given in two places, or without a queue: refused.
  EXPECT_NE(error_of("fleet:\n  queue: redis://:pw@q:6379/0\n  queue_password_file: " + password_file.string() + "\n")
                .find("already holds a password"),
            std::string::npos);
  EXPECT_NE(error_of("fleet:\n  queue_password_file: " + password_file.string() + "\n").find("needs fleet.queue"),
            std::string::npos);
  // A queue without a fleet key is refused: entries must be signed.
  EXPECT_NE(error_of("fleet:\n  queue: redis://q:6379/0\n").find("fleet.key_file: required with fleet.queue"),
            std::string::npos);
  std::filesystem::remove(password_file);
  std::filesystem::remove(key_file);
}

TEST(Config, EveryKeyHasAnEnvironmentName) {
  auto keys = config_keys();
  EXPECT_GE(keys.size(), 25u);
  for (const auto& k : keys) EXPECT_EQ(env_name_for(k).rfind("FIRERUN_", 0), 0u);
}

}  // namespace
}  // namespace firerun::daemon
