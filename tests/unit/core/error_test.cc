#include "firerun/error.h"

#include <gtest/gtest.h>

namespace firerun {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(Errc::invalid_argument, "value must be positive, got " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  FIRERUN_TRY(int x, add_context(parse_positive(v), "doubling"));
  return x * 2;
}

TEST(Error, CarriesCodeMessageAndContextChain) {
  auto r = doubled(-3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
  EXPECT_TRUE(r.error() == Errc::invalid_argument);
  EXPECT_EQ(r.error().what(), "doubling: value must be positive, got -3 [invalid_argument]");
}

TEST(Error, TryPropagatesValues) {
  auto r = doubled(21);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST(Error, ValueThrowsFirerunExceptionAtFacades) {
  auto r = parse_positive(0);
  try {
    (void)r.value();
    FAIL() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().errc(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("must be positive"), std::string::npos);
  }
}

TEST(Error, ForeignCodesMapToConditions) {
  Error timed_out(boost::system::errc::make_error_code(boost::system::errc::timed_out), "read");
  EXPECT_EQ(timed_out.errc(), Errc::timeout);
  Error io(boost::system::errc::make_error_code(boost::system::errc::no_such_file_or_directory), "open x");
  EXPECT_EQ(io.errc(), Errc::io);
}

}  // namespace
}  // namespace firerun
