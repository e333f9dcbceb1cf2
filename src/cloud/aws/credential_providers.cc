#include "cloud/aws/credential_providers.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace firerun::cloud::aws {
namespace {

constexpr std::size_t kMaxSharedFileBytes = 1u << 20;

std::string expand_home(const std::string& path, const EnvLookup& env) {
  if (path == "~" || path.starts_with("~/")) {
    auto home = env("HOME");
    return home ? *home + path.substr(1) : path;
  }
  return path;
}

// nullopt when the file does not exist; an error when it exists but cannot be read.
Result<std::optional<IniFile>> load_ini_if_present(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<IniFile>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  text.resize(kMaxSharedFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSharedFileBytes)
    return make_error(Errc::limit_exceeded, path + " is larger than 1 MiB");
  FIRERUN_TRY(auto ini, parse_ini(text, path));
  return std::optional<IniFile>(std::move(ini));
}

struct SharedFiles {
  SharedFilesLocation where;
  std::optional<IniFile> credentials;
  std::optional<IniFile> config;

  const IniSection* credentials_section() const {
    return credentials ? credentials->find(where.profile) : nullptr;
  }
  const IniSection* config_section() const {
    if (!config) return nullptr;
    if (const auto* s = config->find("profile " + where.profile)) return s;
    return where.profile == "default" ? config->find("default") : nullptr;
  }
};

Result<SharedFiles> load_shared_files(const EnvLookup& env) {
  SharedFiles files;
  files.where = resolve_shared_files(env);
  FIRERUN_TRY(files.credentials, load_ini_if_present(files.where.credentials_file));
  FIRERUN_TRY(files.config, load_ini_if_present(files.where.config_file));
  return files;
}

const std::string* find_key(const IniSection* section, const std::string& key) {
  if (!section) return nullptr;
  auto it = section->find(key);
  return it == section->end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

Result<Credentials> EnvironmentCredentialsProvider::credentials() {
  auto id = env_("AWS_ACCESS_KEY_ID");
  auto secret = env_("AWS_SECRET_ACCESS_KEY");
  if (!id && !secret) return make_error(Errc::not_found, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
  if (!id) return make_error(Errc::invalid_argument, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  if (!secret) return make_error(Errc::invalid_argument, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  Credentials c;
  c.access_key_id = std::move(*id);
  c.secret_access_key = SecretString(std::move(*secret));
  if (auto token = env_("AWS_SESSION_TOKEN")) c.session_token = SecretString(std::move(*token));
  c.source = "environment";
  return c;
}

SharedFilesLocation resolve_shared_files(const EnvLookup& env) {
  SharedFilesLocation loc;
  loc.credentials_file = expand_home(env("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"), env);
  loc.config_file = expand_home(env("AWS_CONFIG_FILE").value_or("~/.aws/config"), env);
  auto profile = env("AWS_PROFILE");
  loc.profile_explicit = profile.has_value();
  loc.profile = profile.value_or("default");
  return loc;
}

Result<Credentials> SharedFilesCredentialsProvider::credentials() {
  FIRERUN_TRY(auto files, add_context(load_shared_files(env_), "reading AWS shared credentials"));
  const auto& where = files.where;
  if (!files.credentials && !files.config)
    return make_error(Errc::not_found, "neither " + where.credentials_file + " nor " + where.config_file + " exists");

  // The credentials file wins over the config file, as in the AWS CLI.
  struct Candidate {
    const IniSection* section;
    const std::string* file;
  };
  for (const Candidate& c : {Candidate{files.credentials_section(), &where.credentials_file},
                             Candidate{files.config_section(), &where.config_file}}) {
    const std::string* id = find_key(c.section, "aws_access_key_id");
    const std::string* secret = find_key(c.section, "aws_secret_access_key");
    if (!id && !secret) continue;
    const std::string where_text = "profile '" + where.profile + "' in " + *c.file;
    if (!id) return make_error(Errc::invalid_argument, where_text + " has aws_secret_access_key but no aws_access_key_id");
    if (!secret) return make_error(Errc::invalid_argument, where_text + " has aws_access_key_id but no aws_secret_access_key");
    Credentials out;
    out.access_key_id = *id;
    out.secret_access_key = SecretString(*secret);
    if (const std::string* token = find_key(c.section, "aws_session_token")) out.session_token = SecretString(*token);
    out.source = "shared-files:" + *c.file;
    return out;
  }
  const bool profile_exists = files.credentials_section() || files.config_section();
  std::string what = profile_exists ? "profile '" + where.profile + "' has no static keys"
                                    : "profile '" + where.profile + "' not found";
  what += " in " + where.credentials_file + " or " + where.config_file;
  // A profile the user named explicitly must exist; silently falling through to the
  // instance role would run with the wrong identity.
  if (where.profile_explicit && !profile_exists) return make_error(Errc::invalid_argument, what + " (AWS_PROFILE)");
  return make_error(Errc::not_found, what);
}

Result<std::string> resolve_region(const EnvLookup& env) {
  if (auto r = env("AWS_REGION")) return *r;
  if (auto r = env("AWS_DEFAULT_REGION")) return *r;
  FIRERUN_TRY(auto files, add_context(load_shared_files(env), "reading AWS config"));
  if (const std::string* region = find_key(files.config_section(), "region")) return *region;
  return make_error(Errc::not_found, "no AWS region: set AWS_REGION or 'region' for profile '" +
                                         files.where.profile + "' in " + files.where.config_file);
}

CredentialsChain::CredentialsChain(std::vector<std::unique_ptr<CredentialsProvider>> providers)
    : providers_(std::move(providers)) {}

std::unique_ptr<CredentialsChain> CredentialsChain::make_default(EnvLookup env) {
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::make_unique<EnvironmentCredentialsProvider>(env));
  providers.push_back(std::make_unique<SharedFilesCredentialsProvider>(env));
  auto disabled = env("AWS_EC2_METADATA_DISABLED");
  if (!disabled || (*disabled != "true" && *disabled != "TRUE" && *disabled != "True"))
    providers.push_back(std::make_unique<ImdsCredentialsProvider>(ImdsOptions::from_environment(env)));
  return std::make_unique<CredentialsChain>(std::move(providers));
}

Result<Credentials> CredentialsChain::credentials() {
  std::lock_guard lock(mutex_);
  if (chosen_) return add_context(chosen_->credentials(), std::string("AWS credentials from ") + std::string(chosen_->name()));
  std::string tried;
  for (const auto& p : providers_) {
    auto r = p->credentials();
    if (r) {
      chosen_ = p.get();
      return r;
    }
    if (r.error() != Errc::not_found)
      return std::move(r).error().with_context(std::string("AWS credentials from ") + std::string(p->name()));
    if (!tried.empty()) tried += "; ";
    tried += std::string(p->name()) + ": " + r.error().message();
  }
  return make_error(Errc::not_found, "no AWS credentials found (" + tried + ")");
}

}  // namespace firerun::cloud::aws
