// The built-in language table: complete entries, lookup by name and alias,
// and rejection of malformed tables.
#include "firerun/image.h"
#include "firerun/sandbox.h"
#include "sandbox/language_table.h"

#include <gtest/gtest.h>

#include <set>

namespace firerun::sandbox {
namespace {

TEST(Languages, BuiltinTableHasTheFiveLanguagesEachComplete) {
  const auto& all = languages();
  std::set<std::string> names;
  for (const auto& lang : all) {
    SCOPED_TRACE(lang.name);
    names.insert(lang.name);
    EXPECT_FALSE(lang.version.empty());
    EXPECT_FALSE(lang.source_file.empty());
    EXPECT_EQ(lang.source_file.find('/'), std::string::npos);
    ASSERT_FALSE(lang.run_argv.empty());
    EXPECT_GE(lang.min_memory_mib, 128u);
    // The image is a recipe the image layer can build.
    auto recipe = image::find_recipe(lang.image);
    EXPECT_TRUE(recipe) << (recipe ? "" : recipe.error().what());
    // A compiled language runs what it compiled; an interpreted one its source.
    auto uses = [](const std::vector<std::string>& argv, std::string_view var) {
      for (const auto& w : argv)
        if (w.find(var) != std::string::npos) return true;
      return false;
    };
    if (lang.compile_argv.empty()) {
      EXPECT_TRUE(uses(lang.run_argv, "{src}"));
    } else {
      EXPECT_TRUE(uses(lang.compile_argv, "{out}"));
      EXPECT_TRUE(uses(lang.run_argv, "{out}"));
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"bash", "go", "node", "python", "rust"}));
}

TEST(Languages, CompiledLanguagesAreGoAndRust) {
  EXPECT_TRUE((*find_language("python"))->compile_argv.empty());
  EXPECT_TRUE((*find_language("node"))->compile_argv.empty());
  EXPECT_TRUE((*find_language("bash"))->compile_argv.empty());
  EXPECT_FALSE((*find_language("go"))->compile_argv.empty());
  EXPECT_FALSE((*find_language("rust"))->compile_argv.empty());
  // Go builds offline: no module proxy in a VM without network.
  EXPECT_EQ((*find_language("go"))->env.at("GOPROXY"), "off");
}

TEST(Languages, FindsByNameAndAlias) {
  for (auto [query, name] : std::vector<std::pair<std::string, std::string>>{
           {"python", "python"}, {"py", "python"}, {"python3", "python"}, {"js", "node"}, {"javascript", "node"},
           {"golang", "go"}, {"rs", "rust"}, {"sh", "bash"}, {"bash", "bash"}}) {
    auto found = find_language(query);
    ASSERT_TRUE(found) << query;
    EXPECT_EQ((*found)->name, name) << query;
  }
}

TEST(Languages, UnknownLanguageListsTheKnownOnes) {
  auto r = find_language("cobol");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::not_found);
  EXPECT_NE(r.error().message().find("cobol"), std::string::npos);
  EXPECT_NE(r.error().message().find("python"), std::string::npos);
  EXPECT_NE(r.error().message().find("rust"), std::string::npos);
  // Lookup is exact: no case folding, no prefix match.
  EXPECT_FALSE(find_language("Python"));
  EXPECT_FALSE(find_language("pyt"));
  EXPECT_FALSE(find_language(""));
  // Hostile input is not echoed raw.
  auto weird = find_language(std::string("a\nb\0c", 5));
  ASSERT_FALSE(weird);
  EXPECT_EQ(weird.error().message().find('\n'), std::string::npos);
}

TEST(LanguageTable, SubstitutesPlaceholders) {
  auto argv = detail::substitute({"cc", "-o", "{out}", "{src}", "-I{dir}/inc", "{unknown}", "{src}{src}"}, "/w/m.c",
                                 "/w", "/w.out");
  EXPECT_EQ(argv, (std::vector<std::string>{"cc", "-o", "/w.out", "/w/m.c", "-I/w/inc", "{unknown}",
                                            "/w/m.c/w/m.c"}));
}

TEST(LanguageTable, RunAsIsUserUnlessTheTableSaysRoot) {
  for (const auto& lang : languages()) EXPECT_FALSE(lang.runs_as_root) << lang.name;
  const std::string entry = "{name: x, version: '1', image: bash, source_file: m, run: [x]";
  auto user = detail::parse_languages("languages: [" + entry + ", run_as: user}]", "t");
  auto root = detail::parse_languages("languages: [" + entry + ", run_as: root}]", "t");
  ASSERT_TRUE(user && root);
  EXPECT_FALSE(user->front().runs_as_root);
  EXPECT_TRUE(root->front().runs_as_root);
}

TEST(LanguageTable, RejectsMalformedTablesNamingTheProblem) {
  const std::string ok_entry = "{name: x, version: '1', image: bash, source_file: m.sh, run: [sh, '{src}']}";
  ASSERT_TRUE(detail::parse_languages("languages: [" + ok_entry + "]", "t"));
  const std::pair<std::string, std::string> bad[] = {
      {"", "top level"},
      {"languages: []", "no languages"},
      {"languages: {}", "top level"},
      {"languages: [" + ok_entry + "]\nextra: 1", "top level"},
      {"languages: [{version: '1', image: bash, source_file: m, run: [x]}]", "missing 'name'"},
      {"languages: [{name: x, image: bash, source_file: m, run: [x]}]", "missing 'version'"},
      {"languages: [{name: x, version: '1', source_file: m, run: [x]}]", "missing 'image'"},
      {"languages: [{name: x, version: '1', image: bash, run: [x]}]", "missing 'source_file'"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m}]", "missing 'run'"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: []}]", "run must not be empty"},
      {"languages: [{name: x, version: '1', image: bash, source_file: a/m, run: [x]}]", "source_file"},
      {"languages: [{name: X, version: '1', image: bash, source_file: m, run: [x]}]", "name"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], colour: red}]", "unknown key 'colour'"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], min_memory_mib: -5}]",
       "min_memory_mib"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], min_memory_mib: 1k}]",
       "min_memory_mib"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], env: {'A B': y}}]", "env"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], compile: x}]", "compile"},
      {"languages: [{name: x, version: '1', image: bash, source_file: m, run: [x], run_as: admin}]",
       "run_as must be user or root"},
      {"languages: [" + ok_entry + ", {name: y, aliases: [x], version: '1', image: bash, source_file: m, run: [x]}]",
       "'x' used twice"},
      {"languages: [[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]", "nested too deeply"},
      {"languages: [unterminated", "YAML error"},
  };
  for (const auto& [text, expected] : bad) {
    auto r = detail::parse_languages(text, "t");
    ASSERT_FALSE(r) << "accepted: " << text;
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument) << text;
    EXPECT_NE(r.error().message().find(expected), std::string::npos) << text << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace firerun::sandbox
