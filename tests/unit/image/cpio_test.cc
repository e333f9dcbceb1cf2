#include "image/cpio.h"

#include "image/command.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace firerun::image::detail {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Cpio, WritesNewcThatReadsBack) {
  auto dir = fs::temp_directory_path() / ("firerun-cpio-" + std::to_string(::getpid()));
  fs::create_directories(dir / "tree" / "usr" / "bin");
  std::ofstream(dir / "tree" / "usr" / "bin" / "tool", std::ios::binary) << "12345";
  fs::permissions(dir / "tree" / "usr" / "bin" / "tool", fs::perms(0755));
  fs::create_directory_symlink("usr/bin", dir / "tree" / "bin");
  std::ofstream(dir / "tree" / "a") << "";

  auto w = CpioWriter::create(dir / "out.cpio");
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->add_tree(dir / "tree"));
  ASSERT_TRUE(w->add_directory("dev", 0755));
  ASSERT_TRUE(w->add_char_device("dev/console", 0600, 5, 1));
  ASSERT_TRUE(w->add_file("init", 0755, "#!/bin/sh\n"));
  EXPECT_FALSE(w->add_file("/abs", 0644, "x"));
  ASSERT_TRUE(w->finish());

  auto bytes = slurp(dir / "out.cpio");
  EXPECT_EQ(bytes.size() % 4, 0u);
  auto entries = parse_cpio(bytes);
  ASSERT_TRUE(entries) << entries.error().what();
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  // Sorted, parents before children.
  EXPECT_EQ(names, (std::vector<std::string>{"a", "bin", "usr", "usr/bin", "usr/bin/tool", "dev", "dev/console", "init"}));
  EXPECT_TRUE(S_ISLNK((*entries)[1].mode));
  EXPECT_EQ((*entries)[1].data, "usr/bin");
  EXPECT_EQ((*entries)[4].data, "12345");
  EXPECT_EQ((*entries)[4].mode, S_IFREG | 0755u);
  EXPECT_TRUE(S_ISCHR((*entries)[6].mode));
  EXPECT_EQ((*entries)[6].rdev_major, 5u);

  // The system cpio(1) agrees, when it is installed.
  if (fs::exists("/usr/bin/cpio")) {
    auto listed = run_command({"sh", "-c", "cpio -it --quiet < \"$0\"", (dir / "out.cpio").string()});
    ASSERT_TRUE(listed) << listed.error().what();
    EXPECT_EQ(listed->stdout_data, "a\nbin\nusr\nusr/bin\nusr/bin/tool\ndev\ndev/console\ninit\n");
  }
  // Same tree, same bytes.
  auto w2 = CpioWriter::create(dir / "again.cpio");
  ASSERT_TRUE(w2->add_tree(dir / "tree"));
  ASSERT_TRUE(w2->finish());
  auto w3 = CpioWriter::create(dir / "again2.cpio");
  ASSERT_TRUE(w3->add_tree(dir / "tree"));
  ASSERT_TRUE(w3->finish());
  EXPECT_EQ(slurp(dir / "again.cpio"), slurp(dir / "again2.cpio"));
  EXPECT_FALSE(parse_cpio(bytes.substr(0, bytes.size() / 2)));
  fs::remove_all(dir);
}

TEST(Command, CapturesOutputAndReportsFailures) {
  auto ok = run_command({"sh", "-c", "echo out; echo err >&2", "ignored"});
  ASSERT_TRUE(ok) << ok.error().what();
  EXPECT_EQ(ok->stdout_data, "out\n");
  EXPECT_EQ(ok->stderr_data, "err\n");
  // argv is passed verbatim, never through a shell.
  auto literal = run_command({"echo", "$(id)", ";", "x"});
  ASSERT_TRUE(literal);
  EXPECT_EQ(literal->stdout_data, "$(id) ; x\n");
  auto fail = run_command({"sh", "-c", "echo broken >&2; exit 3"});
  ASSERT_FALSE(fail);
  EXPECT_NE(fail.error().message().find("status 3"), std::string::npos);
  EXPECT_NE(fail.error().message().find("broken"), std::string::npos);
  EXPECT_EQ(run_command({"/no/such/tool"}).error().errc(), Errc::not_found);
  auto cwd = run_command({"pwd"}, CommandOptions{.cwd = "/", .extra_env = {}});
  ASSERT_TRUE(cwd);
  EXPECT_EQ(cwd->stdout_data, "/\n");
}

}  // namespace
}  // namespace firerun::image::detail
