#include "router.h"

#include <gtest/gtest.h>

namespace firerun::daemon {
namespace {
using boost::beast::http::verb;

TEST(Router, MatchesLiteralsAndPlaceholders) {
  Router<int> r;
  r.add(verb::post, "/v1/jobs", 1);
  r.add(verb::get, "/v1/jobs/{id}", 2);
  r.add(verb::delete_, "/v1/jobs/{id}", 3);
  r.add(verb::get, "/healthz", 4);

  auto m = r.match(verb::get, "/v1/jobs/abc123");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(*m.handler, 2);
  EXPECT_EQ(m.params.at("id"), "abc123");
  EXPECT_EQ(*r.match(verb::delete_, "/v1/jobs/x").handler, 3);
  EXPECT_EQ(*r.match(verb::post, "/v1/jobs").handler, 1);
  EXPECT_EQ(*r.match(verb::get, "/healthz?verbose=1").handler, 4) << "the query string is not part of the path";
}

TEST(Router, WrongMethodListsTheAllowedOnes) {
  Router<int> r;
  r.add(verb::get, "/v1/jobs/{id}", 2);
  r.add(verb::delete_, "/v1/jobs/{id}", 3);
  auto m = r.match(verb::put, "/v1/jobs/1");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<verb>{verb::get, verb::delete_}));
}

TEST(Router, UnknownPathsAndShapeMismatchesDoNotMatch) {
  Router<int> r;
  r.add(verb::get, "/v1/jobs/{id}", 2);
  for (const char* path : {"/v1/jobs", "/v1/jobs/1/2", "/v2/jobs/1", "", "/", "//", "/v1//jobs"}) {
    auto m = r.match(verb::get, path);
    EXPECT_EQ(m.handler, nullptr) << path;
    EXPECT_TRUE(m.allowed.empty()) << path;
  }
  EXPECT_EQ(r.routes().size(), 1u);
}

}  // namespace
}  // namespace firerun::daemon
