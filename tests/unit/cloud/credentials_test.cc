// Environment and shared-file credentials, the INI parser, region lookup and the chain.
#include "cloud/aws/credential_providers.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using namespace firerun::cloud::aws;
using firerun::Errc;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

class TempHome : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("firerun-aws-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / ".aws");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel, std::ios::binary) << text; }
  std::map<std::string, std::string> base_env() const {
    return {{"HOME", dir_.string()}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  }
  fs::path dir_;
};

constexpr const char* kSecret = "fileSECRETvalue/with+chars";
constexpr const char* kToken = "fileSESSIONtoken==";

}  // namespace

TEST(Ini, ParsesSectionsKeysCommentsAndNestedSettings) {
  auto ini = parse_ini(
      "# comment\n; other\n[default]\nAWS_Access_Key_ID = AKID1\r\nregion=us-west-2\n"
      "s3 =\n  addressing_style = path\n  max_concurrent_requests=20\n"
      "[profile dev]\n  \nnote = line one\n  line two\n[default]\nextra = x",
      "cfg");
  ASSERT_TRUE(ini) << ini.error().what();
  const auto* def = ini->find("default");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->at("aws_access_key_id"), "AKID1");
  EXPECT_EQ(def->at("region"), "us-west-2");
  EXPECT_EQ(def->at("s3.addressing_style"), "path");
  EXPECT_EQ(def->at("s3.max_concurrent_requests"), "20");
  EXPECT_EQ(def->at("extra"), "x");  // repeated sections merge
  EXPECT_EQ(ini->find("profile dev")->at("note"), "line one\nline two");
}

TEST(Ini, ErrorsNameFileAndLineButNotContent) {
  struct Case {
    const char* text;
    int line;
  } cases[] = {
      {"[default]\naws_secret_access_key SECRETNOEQUALS\n", 2},
      {"key = value\n", 1},
      {"[default\n", 1},
      {"[ ]\n", 1},
      {"[default]\n= SECRETEMPTYKEY\n", 2},
  };
  for (const auto& c : cases) {
    auto r = parse_ini(c.text, "/home/u/.aws/credentials");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error(), Errc::invalid_argument);
    EXPECT_NE(r.error().what().find("/home/u/.aws/credentials:" + std::to_string(c.line) + ":"), std::string::npos)
        << r.error().what();
    EXPECT_EQ(r.error().what().find("SECRET"), std::string::npos) << r.error().what();
  }
}

TEST(EnvironmentProvider, ReadsKeysAndToken) {
  EnvironmentCredentialsProvider p(env_of({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                           {"AWS_SECRET_ACCESS_KEY", kSecret},
                                           {"AWS_SESSION_TOKEN", kToken}}));
  auto c = p.credentials();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->secret_access_key.reveal(), kSecret);
  EXPECT_EQ(c->session_token.reveal(), kToken);
  EXPECT_EQ(c->source, "environment");
}

TEST(EnvironmentProvider, UnsetIsNotFoundHalfSetIsAnError) {
  EXPECT_EQ(EnvironmentCredentialsProvider(env_of({})).credentials().error(), Errc::not_found);
  auto half = EnvironmentCredentialsProvider(env_of({{"AWS_SECRET_ACCESS_KEY", kSecret}})).credentials();
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error(), Errc::invalid_argument);
  EXPECT_EQ(half.error().what().find(kSecret), std::string::npos);
}

TEST_F(TempHome, SharedCredentialsFileWinsOverConfig) {
  write(".aws/credentials", std::string("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = ") + kSecret +
                                "\naws_session_token = " + kToken + "\n");
  write(".aws/config", "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = other\nregion = eu-north-1\n");
  auto c = SharedFilesCredentialsProvider(env_of(base_env())).credentials();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  EXPECT_EQ(c->secret_access_key.reveal(), kSecret);
  EXPECT_EQ(c->session_token.reveal(), kToken);
  auto region = resolve_region(env_of(base_env()));
  ASSERT_TRUE(region);
  EXPECT_EQ(*region, "eu-north-1");
}

TEST_F(TempHome, ProfileAndFileOverridesFromEnvironment) {
  write("creds", "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n");
  write("conf", std::string("[profile build]\naws_access_key_id = AKIDBUILD\naws_secret_access_key = ") + kSecret +
                    "\nregion = ap-south-1\n");
  auto env = base_env();
  env["AWS_SHARED_CREDENTIALS_FILE"] = (dir_ / "creds").string();
  env["AWS_CONFIG_FILE"] = (dir_ / "conf").string();
  env["AWS_PROFILE"] = "build";
  auto c = SharedFilesCredentialsProvider(env_of(env)).credentials();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->access_key_id, "AKIDBUILD");
  EXPECT_EQ(*resolve_region(env_of(env)), "ap-south-1");

  env["AWS_REGION"] = "us-east-2";
  EXPECT_EQ(*resolve_region(env_of(env)), "us-east-2");
}

TEST_F(TempHome, MissingFilesAreNotFoundButNamedMissingProfileIsAnError) {
  EXPECT_EQ(SharedFilesCredentialsProvider(env_of(base_env())).credentials().error(), Errc::not_found);
  write(".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
  auto env = base_env();
  env["AWS_PROFILE"] = "typo";
  auto r = SharedFilesCredentialsProvider(env_of(env)).credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::invalid_argument);
  EXPECT_NE(r.error().what().find("'typo'"), std::string::npos);
}

TEST_F(TempHome, MalformedFileErrorNamesFileAndLineAndStopsTheChain) {
  write(".aws/credentials", std::string("[default]\naws_access_key_id = A\n") + kSecret + "\n");
  auto env = base_env();
  env["AWS_ACCESS_KEY_ID"] = "";  // unset: environment provider says not_found
  auto chain = CredentialsChain::make_default(env_of(env));
  auto r = chain->credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::invalid_argument);
  const std::string what = r.error().what();
  EXPECT_NE(what.find((dir_ / ".aws/credentials").string() + ":3:"), std::string::npos) << what;
  EXPECT_EQ(what.find(kSecret), std::string::npos) << what;
}

TEST_F(TempHome, HalfConfiguredProfileIsAnError) {
  write(".aws/credentials", "[default]\naws_access_key_id = AKIDONLY\n");
  auto r = SharedFilesCredentialsProvider(env_of(base_env())).credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::invalid_argument);
}

TEST_F(TempHome, ChainPrefersEnvironmentThenFiles) {
  write(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  auto env = base_env();
  env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env["AWS_SECRET_ACCESS_KEY"] = "e";
  auto from_env = CredentialsChain::make_default(env_of(env))->credentials();
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env->access_key_id, "AKIDENV");
  auto from_file = CredentialsChain::make_default(env_of(base_env()))->credentials();
  ASSERT_TRUE(from_file);
  EXPECT_EQ(from_file->access_key_id, "AKIDFILE");
}

TEST_F(TempHome, ChainWithNothingConfiguredListsWhatItTried) {
  auto r = CredentialsChain::make_default(env_of(base_env()))->credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::not_found);
  EXPECT_NE(r.error().what().find("environment:"), std::string::npos);
  EXPECT_NE(r.error().what().find("shared-files:"), std::string::npos);
}
