// Recipe archives and binaries: locating, hashing and unpacking user files,
// with real tar archives made by the host's tar (hostile ones with -P).
#include "image/builder.h"
#include "image/command.h"
#include "image/digest.h"
#include "image/sources.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace firerun::image::detail {
namespace {
namespace fs = std::filesystem;

class Sources : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("firerun-sources-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "root");
    fs::create_directories(dir_ / "outside");
    root_ = dir_ / "root";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const fs::path& p, const std::string& content, fs::perms mode = fs::perms(0644)) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    fs::permissions(p, mode);
  }
  void tar(std::vector<std::string> args) {
    args.insert(args.begin(), "tar");
    auto r = run_command(args);
    ASSERT_TRUE(r) << r.error().what();
  }
  Recipe recipe_with(const std::string& yaml) {
    auto r = parse_recipe("name: t\npackages: [bash]\n" + yaml, "t.yaml");
    EXPECT_TRUE(r) << r.error().what();
    r->base_dir = dir_;
    return *r;
  }
  Status unpack(const fs::path& archive, const std::string& dest = "/opt/runner") {
    return unpack_archive(root_, dest, archive, dir_ / "staging", conflicts_);
  }
  bool outside_untouched() { return fs::is_empty(dir_ / "outside") && !fs::exists(dir_ / "x"); }

  fs::path dir_, root_;
  std::vector<std::string> conflicts_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(Sources, ExpandsEnvironmentReferences) {
  ::setenv("FIRERUN_TEST_RUNNER_DIR", "/srv/runners", 1);
  auto r = expand_env_refs("${FIRERUN_TEST_RUNNER_DIR}/a-${FIRERUN_TEST_RUNNER_DIR}.tgz", "archives[0].source");
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(*r, "/srv/runners/a-/srv/runners.tgz");
  EXPECT_EQ(*expand_env_refs("plain $HOME", "k"), "plain $HOME");  // only ${NAME} is special
  ::unsetenv("FIRERUN_TEST_RUNNER_DIR");
  auto unset = expand_env_refs("${FIRERUN_TEST_RUNNER_DIR}/a.tgz", "archives[0].source");
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error().errc(), Errc::invalid_argument);
  EXPECT_NE(unset.error().message().find("archives[0].source"), std::string::npos);
  EXPECT_NE(unset.error().message().find("FIRERUN_TEST_RUNNER_DIR is not set"), std::string::npos);
}

TEST_F(Sources, ResolvesRelativeToTheRecipeAndHashesContent) {
  write(dir_ / "runner.tar.gz", "archive bytes");
  write(dir_ / "bin" / "gitlab-runner", "binary bytes");
  ::setenv("FIRERUN_TEST_BIN", (dir_ / "bin").c_str(), 1);
  auto recipe = recipe_with(
      "archives: [{source: runner.tar.gz, dest: /opt/r}]\n"
      "binaries: [{source: '${FIRERUN_TEST_BIN}/gitlab-runner', path: /usr/local/bin/gitlab-runner}]\n");
  auto sources = resolve_sources(recipe);
  ::unsetenv("FIRERUN_TEST_BIN");
  ASSERT_TRUE(sources) << sources.error().what();
  ASSERT_EQ(sources->size(), 2u);
  EXPECT_EQ((*sources)[0].key, "archives[0]");
  EXPECT_EQ((*sources)[0].path, dir_ / "runner.tar.gz");
  EXPECT_EQ((*sources)[0].sha256, sha256_hex("archive bytes"));
  EXPECT_EQ((*sources)[1].key, "binaries[0]");
  EXPECT_EQ((*sources)[1].sha256, sha256_hex("binary bytes"));
}

TEST_F(Sources, MissingMismatchedAndUnsupportedSourcesAreClearErrors) {
  auto missing = resolve_sources(recipe_with("archives: [{source: nope.tar.gz, dest: /opt/r}]\n"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("archives[0].source"), std::string::npos) << missing.error().what();
  EXPECT_NE(missing.error().message().find((dir_ / "nope.tar.gz").string()), std::string::npos);
  EXPECT_NE(missing.error().message().find("t.yaml"), std::string::npos);

  auto missing_bin = resolve_sources(recipe_with("binaries: [{source: /nonexistent/gitlab-runner, path: /usr/bin/g}]\n"));
  ASSERT_FALSE(missing_bin);
  EXPECT_EQ(missing_bin.error().errc(), Errc::not_found);
  EXPECT_NE(missing_bin.error().message().find("binaries[0].source: /nonexistent/gitlab-runner"), std::string::npos);

  write(dir_ / "r.tar.gz", "v1");
  auto mismatch = resolve_sources(recipe_with("archives: [{source: r.tar.gz, dest: /opt/r, sha256: " + sha256_hex("v2") + "}]\n"));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().errc(), Errc::invalid_argument);
  EXPECT_NE(mismatch.error().message().find("archives[0].sha256"), std::string::npos) << mismatch.error().what();
  EXPECT_NE(mismatch.error().message().find(sha256_hex("v1")), std::string::npos);
  EXPECT_TRUE(resolve_sources(recipe_with("archives: [{source: r.tar.gz, dest: /opt/r, sha256: " + sha256_hex("v1") + "}]\n")));

  write(dir_ / "r.zip", "zip");
  auto zip = resolve_sources(recipe_with("archives: [{source: r.zip, dest: /opt/r}]\n"));
  ASSERT_FALSE(zip);
  EXPECT_EQ(zip.error().errc(), Errc::invalid_argument);
  EXPECT_NE(zip.error().message().find("not a supported archive"), std::string::npos);

  fs::create_directories(dir_ / "adir.tar");
  auto directory = resolve_sources(recipe_with("archives: [{source: adir.tar, dest: /opt/r}]\n"));
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message().find("not a regular file"), std::string::npos);
}

TEST_F(Sources, ImageHashFollowsContentNotPath) {
  write(dir_ / "a" / "runner-2.321.0.tar.gz", "runner v1");
  write(dir_ / "b" / "renamed.tar.gz", "runner v1");
  write(dir_ / "c" / "runner-2.322.0.tar.gz", "runner v2");
  auto image_hash = [&](const std::string& source) {
    auto recipe = recipe_with("archives: [{source: " + source + ", dest: /opt/actions-runner}]\n");
    auto sources = resolve_sources(recipe);
    EXPECT_TRUE(sources) << sources.error().what();
    ImageInputs in;
    in.canonical_recipe = canonical_recipe(recipe);
    in.agent_sha256 = sha256_hex("agent");
    for (const auto& s : *sources) in.source_sha256.push_back(s.sha256);
    return compute_image_hash(in);
  };
  const auto v1 = image_hash("a/runner-2.321.0.tar.gz");
  EXPECT_EQ(v1, image_hash((dir_ / "b" / "renamed.tar.gz").string()));
  fs::last_write_time(dir_ / "b" / "renamed.tar.gz", fs::file_time_type::clock::now() - std::chrono::hours(48));
  EXPECT_EQ(v1, image_hash("b/renamed.tar.gz"));
  EXPECT_NE(v1, image_hash("c/runner-2.322.0.tar.gz"));
}

TEST_F(Sources, UnpacksEveryFormatKeepingModesAndLinks) {
  write(dir_ / "src" / "run.sh", "#!/bin/sh\necho runner\n", fs::perms(0755));
  write(dir_ / "src" / "bin" / "Runner.Listener", "elf", fs::perms(0750));
  write(dir_ / "src" / "config" / "settings.json", "{}");
  fs::create_directory_symlink("bin", dir_ / "src" / "current");
  fs::create_symlink("../run.sh", dir_ / "src" / "bin" / "run");
  for (const std::string name : {"r.tar", "r.tar.gz", "r.tgz", "r.tar.xz"}) {
    SCOPED_TRACE(name);
    fs::remove_all(root_);
    fs::create_directories(root_ / "opt");
    tar({"-C", (dir_ / "src").string(), "-caf", (dir_ / name).string(), "."});
    auto st = unpack(dir_ / name);
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(slurp(root_ / "opt/runner/run.sh"), "#!/bin/sh\necho runner\n");
    EXPECT_EQ(fs::status(root_ / "opt/runner/run.sh").permissions(), fs::perms(0755));
    EXPECT_EQ(fs::status(root_ / "opt/runner/bin/Runner.Listener").permissions(), fs::perms(0750));
    EXPECT_EQ(fs::status(root_ / "opt/runner/config/settings.json").permissions(), fs::perms(0644));
    EXPECT_EQ(fs::read_symlink(root_ / "opt/runner/current"), "bin");
    EXPECT_EQ(fs::read_symlink(root_ / "opt/runner/bin/run"), "../run.sh");
    EXPECT_FALSE(fs::exists(dir_ / "staging"));  // moved into place
  }
}

TEST_F(Sources, MergesIntoExistingDirectoriesAndFollowsGuestSymlinks) {
  write(dir_ / "src" / "bin" / "gitlab-helper", "new", fs::perms(0755));
  tar({"-C", (dir_ / "src").string(), "-czf", (dir_ / "r.tar.gz").string(), "bin"});
  write(root_ / "usr" / "bin" / "bash", "bash");
  write(root_ / "usr" / "bin" / "gitlab-helper", "old");
  fs::create_directory_symlink("usr/bin", root_ / "bin");  // merged /usr, as the builder makes it
  auto st = unpack(dir_ / "r.tar.gz", "/");
  ASSERT_TRUE(st) << st.error().what();  // bin/ lands in usr/bin, as tar in the guest would put it
  EXPECT_TRUE(fs::is_symlink(root_ / "bin"));
  EXPECT_EQ(slurp(root_ / "usr/bin/bash"), "bash");
  EXPECT_EQ(slurp(root_ / "usr/bin/gitlab-helper"), "new");
  EXPECT_EQ(fs::status(root_ / "usr/bin/gitlab-helper").permissions(), fs::perms(0755));
  EXPECT_EQ(conflicts_, std::vector<std::string>{"/bin/gitlab-helper"});
  EXPECT_FALSE(fs::exists(dir_ / "staging"));
  ASSERT_TRUE(fs::remove(dir_ / "r.tar.gz"));

  // dest itself behind a guest symlink (absolute, as packages ship them) resolves inside the root.
  fs::create_directories(root_ / "srv" / "real");
  fs::create_directory_symlink("/srv/real", root_ / "srv" / "runner");
  tar({"-C", (dir_ / "src" / "bin").string(), "-czf", (dir_ / "r.tar.gz").string(), "gitlab-helper"});
  st = unpack(dir_ / "r.tar.gz", "/srv/runner");
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(slurp(root_ / "srv/real/gitlab-helper"), "new");
  EXPECT_TRUE(fs::is_symlink(root_ / "srv/runner"));

  // A file in the archive where the image has a directory is refused, not dropped.
  fs::create_directories(root_ / "opt" / "r" / "gitlab-helper");
  st = unpack(dir_ / "r.tar.gz", "/opt/r");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("/opt/r/gitlab-helper is a directory in the image"), std::string::npos)
      << st.error().what();

  write(root_ / "opt" / "file", "x");
  st = unpack(dir_ / "r.tar.gz", "/opt/file");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("not a directory"), std::string::npos) << st.error().what();
}

TEST_F(Sources, RefusesDotDotMembers) {
  write(dir_ / "x", "escaped");
  fs::create_directories(dir_ / "work");
  tar({"-C", (dir_ / "work").string(), "-cPzf", (dir_ / "evil.tar.gz").string(), "../x"});
  fs::remove(dir_ / "x");
  auto st = unpack(dir_ / "evil.tar.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errc(), Errc::invalid_argument);
  EXPECT_NE(st.error().message().find("'../x'"), std::string::npos) << st.error().what();
  EXPECT_TRUE(outside_untouched());
  EXPECT_FALSE(fs::exists(root_ / "opt"));
  EXPECT_FALSE(fs::exists(dir_ / "staging"));  // refused before extracting anything
}

TEST_F(Sources, RefusesAbsoluteMembers) {
  write(dir_ / "outside" / "abs", "absolute");
  tar({"-cPf", (dir_ / "evil.tar").string(), (dir_ / "outside" / "abs").string()});
  fs::remove(dir_ / "outside" / "abs");
  auto st = unpack(dir_ / "evil.tar");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errc(), Errc::invalid_argument);
  EXPECT_NE(st.error().message().find("absolute or '..' path"), std::string::npos) << st.error().what();
  EXPECT_TRUE(outside_untouched());
  EXPECT_FALSE(fs::exists(root_ / "opt"));
}

TEST_F(Sources, NeverWritesThroughASymlinkOutOfDest) {
  for (const std::string& target : {(dir_ / "outside").string(), std::string("../../outside")}) {
    SCOPED_TRACE(target);
    fs::remove_all(dir_ / "a");
    fs::remove_all(dir_ / "b");
    fs::remove_all(dir_ / "staging");
    fs::create_directories(dir_ / "a");
    fs::create_directory_symlink(target, dir_ / "a" / "evil");
    tar({"-C", (dir_ / "a").string(), "-cf", (dir_ / "evil.tar").string(), "evil"});
    write(dir_ / "b" / "evil" / "pwned", "pwned");
    tar({"-C", (dir_ / "b").string(), "-rf", (dir_ / "evil.tar").string(), "evil/pwned"});
    auto st = unpack(dir_ / "evil.tar");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what().find("extracting archive"), std::string::npos) << st.error().what();
    EXPECT_NE(st.error().what().find("evil/pwned"), std::string::npos) << st.error().what();
    EXPECT_TRUE(outside_untouched());
    EXPECT_FALSE(fs::exists(root_ / "opt"));
  }
}

TEST_F(Sources, RefusesSpecialFiles) {
  fs::create_directories(dir_ / "src");
  ASSERT_EQ(::mkfifo((dir_ / "src" / "fifo").c_str(), 0644), 0);
  tar({"-C", (dir_ / "src").string(), "-cf", (dir_ / "fifo.tar").string(), "fifo"});
  auto st = unpack(dir_ / "fifo.tar");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errc(), Errc::invalid_argument);
  EXPECT_NE(st.error().message().find("not a file, directory or link"), std::string::npos) << st.error().what();
  EXPECT_FALSE(fs::exists(root_ / "opt"));
}

TEST_F(Sources, CorruptArchiveIsAnError) {
  write(dir_ / "junk.tar.gz", "this is not gzip");
  auto st = unpack(dir_ / "junk.tar.gz");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().what().find("listing archive"), std::string::npos) << st.error().what();
  EXPECT_FALSE(fs::exists(root_ / "opt"));
}

}  // namespace
}  // namespace firerun::image::detail
