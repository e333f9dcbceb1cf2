// The shared hashing and comparison primitives, against published vectors.
#include "core/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace firerun::detail {
namespace {

TEST(Crypto, Sha256AndHexKnownAnswers) {
  // FIPS 180-2 example "abc" and the empty string.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, HmacSha256KnownAnswers) {
  // RFC 4231 test case 2, and an empty key (which OpenSSL needs a valid pointer for).
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmac_sha256(std::string_view(), "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Crypto, ConstantTimeEqualComparesWholeInputs) {
  EXPECT_TRUE(constant_time_equal("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(constant_time_equal("Bearer abc", "Bearer abd"));
  EXPECT_FALSE(constant_time_equal("Bearer ab", "Bearer abc"));
  EXPECT_FALSE(constant_time_equal("Bearer abc", "Bearer ab"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(constant_time_equal(sha256("x"), sha256("x")));
  EXPECT_FALSE(constant_time_equal(sha256("x"), sha256("y")));
}

}  // namespace
}  // namespace firerun::detail
