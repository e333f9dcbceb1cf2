#include "firerun/image.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace firerun::image {
namespace {

TEST(Recipe, BuiltinsAreBashAndPythonWithDefaults) {
  const auto& all = builtin_recipes();
  ASSERT_GE(all.size(), 2u);
  auto bash = find_recipe("bash");
  ASSERT_TRUE(bash) << bash.error().what();
  EXPECT_EQ(bash->packages, (std::vector<std::string>{"bash", "coreutils"}));
  EXPECT_EQ(bash->kernel_package, "linux-image-cloud-amd64");
  EXPECT_NE(std::find(bash->modules.begin(), bash->modules.end(), "virtio_console"), bash->modules.end());
  EXPECT_EQ(bash->env.at("PATH").substr(0, 6), "/usr/l");
  EXPECT_FALSE(bash->prune.empty());
  auto python = find_recipe("python");
  ASSERT_TRUE(python);
  EXPECT_EQ(python->packages.front(), "python3");
  EXPECT_EQ(python->env.at("PYTHONUNBUFFERED"), "1");
  EXPECT_EQ(python->env.at("HOME"), "/root");  // merged from defaults
}

TEST(Recipe, UnknownNameListsKnownOnes) {
  auto r = find_recipe("cobol");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::not_found);
  EXPECT_NE(r.error().message().find("bash"), std::string::npos);
}

TEST(Recipe, ParsesEveryField) {
  auto r = parse_recipe(R"(
name: node
description: Node.js
packages: [nodejs, "libc6=2.36-9"]
exclude_packages: [dpkg]
files:
  - path: /etc/motd
    content: "hi\n"
    mode: "0600"
symlinks:
  - path: /usr/bin/sh
    target: dash
env: {NODE_ENV: production, PATH: /bin}
cmdline: [quiet]
prune: [/usr/share/doc]
kernel_package: linux-image-6.1.0-56-cloud-amd64
modules: [virtio_mmio]
)");
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->name, "node");
  EXPECT_EQ(r->packages[1], "libc6=2.36-9");
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_EQ(r->files[0].mode, 0600u);
  EXPECT_EQ(r->files[0].content, "hi\n");
  EXPECT_EQ(r->symlinks[0].target, "dash");
  EXPECT_EQ(r->env.at("PATH"), "/bin");        // recipe wins
  EXPECT_EQ(r->env.at("HOME"), "/root");       // default kept
  EXPECT_EQ(r->modules, std::vector<std::string>{"virtio_mmio"});
  EXPECT_EQ(r->cmdline, std::vector<std::string>{"quiet"});
}

TEST(Recipe, RejectsBadInput) {
  const char* bad[] = {
      "",                                                     // not a mapping
      "name: x\n",                                            // no packages
      "name: Bad\npackages: [bash]\n",                        // upper case name
      "name: ok\npackages: [bash]\ncolour: red\n",            // unknown key (typo protection)
      "name: ok\npackages: ['bash; rm -rf /']\n",             // not a package name
      "name: ok\npackages: [bash]\nfiles: [{path: rel, content: x}]\n",
      "name: ok\npackages: [bash]\nfiles: [{path: /a/../b, content: x}]\n",
      "name: ok\npackages: [bash]\nfiles: [{path: /init, content: x}]\n",        // reserved for the agent
      "name: ok\npackages: [bash]\nfiles: [{path: /etc/x, content: x, mode: '9'}]\n",
      "name: ok\npackages: [bash]\nsymlinks: [{path: /etc/firerun/env, target: x}]\n",
      "name: ok\npackages: [bash]\nenv: {'A B': x}\n",
      "name: ok\npackages: [bash]\ncmdline: ['a b']\n",
      "name: ok\npackages: bash\n",                          // scalar instead of list
      "name: ok\npackages: [bash]\nmodules: ['../x']\n",
      "name: [unterminated\n",
      "name: ok\npackages: [bash]\nfiles: [{path: /a, content: x}, {path: /a, content: y}]\n",
      "name: ok\npackages: [bash]\narchives: {source: a.tgz, dest: /opt}\n",             // not a list
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz}]\n",                       // no dest
      "name: ok\npackages: [bash]\narchives: [{dest: /opt/a}]\n",                        // no source
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: opt/a}]\n",          // relative dest
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /etc/firerun}]\n",   // reserved
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /opt/../etc}]\n",
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /opt, mode: '0755'}]\n",  // unknown key
      "name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /opt, sha256: abc}]\n",
      "name: ok\npackages: [bash]\narchives: [{source: '${UNCLOSED', dest: /opt}]\n",
      "name: ok\npackages: [bash]\narchives: [{source: '${1BAD}', dest: /opt}]\n",
      "name: ok\npackages: [bash]\narchives: [{source: '', dest: /opt}]\n",
      "name: ok\npackages: [bash]\nbinaries: [{source: r, path: /init}]\n",               // replaces the agent
      "name: ok\npackages: [bash]\nbinaries: [{source: r, path: /usr/bin/r, mode: '0999'}]\n",
      "name: ok\npackages: [bash]\nbinaries: [{source: r, path: /usr/bin/r, dest: /x}]\n",
      "name: ok\npackages: [bash]\nbinaries: [{source: r}]\n",
      "name: ok\npackages: [bash]\nbinaries: [r]\n",
      "name: ok\npackages: [bash]\nbinaries: [{source: r, path: /a}]\nfiles: [{path: /a, content: x}]\n",
  };
  for (const char* text : bad) {
    auto r = parse_recipe(text, "test");
    EXPECT_FALSE(r) << "accepted: " << text;
    if (!r) {
      EXPECT_EQ(r.error().errc(), Errc::invalid_argument) << text;
    }
  }
  std::string deep(1000, '[');
  EXPECT_FALSE(parse_recipe("name: " + deep));
}

TEST(Recipe, ParsesArchivesAndBinaries) {
  const std::string digest(64, 'A');
  auto r = parse_recipe(R"(
name: runner
packages: [bash]
archives:
  - source: actions-runner-linux-x64-2.321.0.tar.gz
    dest: /opt/actions-runner
    sha256: )" + digest + R"(
  - {source: "${RUNNER_DIR}/extra.tar.xz", dest: /opt/extra}
binaries:
  - source: gitlab-runner-linux-amd64
    path: /usr/local/bin/gitlab-runner
    mode: 0750
  - {source: /abs/tool, path: /usr/bin/tool}
)");
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->archives.size(), 2u);
  EXPECT_EQ(r->archives[0].source, "actions-runner-linux-x64-2.321.0.tar.gz");
  EXPECT_EQ(r->archives[0].dest, "/opt/actions-runner");
  EXPECT_EQ(r->archives[0].sha256, std::string(64, 'a'));  // compared in lowercase
  EXPECT_EQ(r->archives[1].source, "${RUNNER_DIR}/extra.tar.xz");  // expanded at build time
  EXPECT_TRUE(r->archives[1].sha256.empty());
  ASSERT_EQ(r->binaries.size(), 2u);
  EXPECT_EQ(r->binaries[0].path, "/usr/local/bin/gitlab-runner");
  EXPECT_EQ(r->binaries[0].mode, 0750u);
  EXPECT_EQ(r->binaries[1].mode, 0755u);  // default for binaries
}

TEST(Recipe, SourceErrorsNameTheKey) {
  auto r = parse_recipe("name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /opt/a}, {source: b.tgz}]\n", "x.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'archives[1]' needs 'dest'"), std::string::npos) << r.error().what();
  EXPECT_NE(r.error().message().find("x.yaml"), std::string::npos);
  r = parse_recipe("name: ok\npackages: [bash]\nbinaries: [{source: a, path: rel}]\n", "x.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'binaries[0].path'"), std::string::npos) << r.error().what();
  r = parse_recipe("name: ok\npackages: [bash]\narchives: [{source: a.tgz, dest: /o, sha256: zz}]\n", "x.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'archives[0].sha256'"), std::string::npos) << r.error().what();
}

TEST(Recipe, SourcesAreHashedByContentNotPath) {
  auto a = parse_recipe("name: ok\npackages: [bash]\narchives: [{source: /one/r.tgz, dest: /opt/r}]\n");
  auto b = parse_recipe("name: ok\npackages: [bash]\narchives: [{source: /two/other.tgz, dest: /opt/r}]\n");
  auto c = parse_recipe("name: ok\npackages: [bash]\narchives: [{source: /one/r.tgz, dest: /opt/s}]\n");
  auto plain = parse_recipe("name: ok\npackages: [bash]\n");
  ASSERT_TRUE(a && b && c && plain);
  EXPECT_EQ(canonical_recipe(*a), canonical_recipe(*b));  // the build adds the content digest
  EXPECT_NE(canonical_recipe(*a), canonical_recipe(*c));
  EXPECT_NE(canonical_recipe(*a), canonical_recipe(*plain));
  EXPECT_EQ(canonical_recipe(*plain).find("archive"), std::string::npos);  // old recipes keep their hash
}

TEST(Recipe, ExampleRunnerRecipesParse) {
  const std::filesystem::path dir = FIRERUN_EXAMPLE_RECIPES;
  auto github = find_recipe("github-runner", {dir});
  ASSERT_TRUE(github) << github.error().what();
  ASSERT_EQ(github->archives.size(), 1u);
  EXPECT_EQ(github->archives[0].dest, "/opt/actions-runner");
  EXPECT_EQ(github->base_dir, dir);
  auto gitlab = find_recipe("gitlab-runner", {dir});
  ASSERT_TRUE(gitlab) << gitlab.error().what();
  ASSERT_FALSE(gitlab->binaries.empty());
  EXPECT_EQ(gitlab->binaries[0].path, "/usr/local/bin/gitlab-runner");
  EXPECT_EQ(gitlab->binaries[0].mode, 0755u);
}

TEST(Recipe, DirectoryRecipesAddAndOverride) {
  auto dir = std::filesystem::temp_directory_path() / ("firerun-recipes-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "go.yaml") << "name: go\npackages: [golang-go]\n";
  std::ofstream(dir / "bash.yaml") << "name: bash\npackages: [bash, busybox-static]\n";
  std::ofstream(dir / "notes.txt") << "ignored";
  auto all = load_recipes({dir});
  ASSERT_TRUE(all) << all.error().what();
  auto go = find_recipe("go", {dir});
  ASSERT_TRUE(go);
  EXPECT_EQ(go->origin, (dir / "go.yaml").string());
  EXPECT_EQ(go->base_dir, dir);  // relative archive/binary sources are found here
  auto bash = find_recipe("bash", {dir});
  ASSERT_TRUE(bash);
  EXPECT_EQ(bash->packages[1], "busybox-static");
  std::ofstream(dir / "zz.yaml") << "name: broken\n";
  auto broken = load_recipes({dir});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().what().find("zz.yaml"), std::string::npos);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(load_recipes({dir}).error().errc(), Errc::not_found);
}

TEST(Recipe, CanonicalFormIsStableAndSensitive) {
  auto a = *find_recipe("bash");
  auto b = *find_recipe("bash");
  b.origin = "elsewhere";  // where it came from does not change the image
  EXPECT_EQ(canonical_recipe(a), canonical_recipe(b));
  b.env["X"] = "1";
  EXPECT_NE(canonical_recipe(a), canonical_recipe(b));
}

TEST(Recipe, DefaultCacheRootFollowsXdg) {
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(default_cache_root(), std::filesystem::path("/tmp/xdg-test/firerun"));
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(default_cache_root(), std::filesystem::path("/home/someone/.cache/firerun"));
}

}  // namespace
}  // namespace firerun::image
