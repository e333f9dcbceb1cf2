#include "image/apt.h"

#include <gtest/gtest.h>

namespace firerun::image::detail {
namespace {

// Captured from `apt-get install --print-uris -qq` on bookworm.
constexpr const char* kPrintUris =
    "'http://deb.example/pool/main/g/glibc/libc6_2.36-9%2bdeb12u14_amd64.deb' libc6_2.36-9+deb12u14_amd64.deb "
    "2759320 MD5Sum:8d98f0c882f269aaee8437bcfe89346e\n"
    "'http://deb.example/pool/main/a/attr/libattr1_2.5.1-4_amd64.deb' libattr1_1%3a2.5.1-4_amd64.deb 22164 "
    "SHA256:00BE21c0c17f08ddf26e82d3b53fe7a41efa4a288938da6bb69e89c4b25c281d\n"
    "'http://deb.example/pool/updates/main/p/pcre2/libpcre2-8-0_10.42-1%2bdeb12u2_amd64.deb' "
    "libpcre2-8-0_10.42-1+deb12u2_amd64.deb 261628 \n"
    "'http://deb.example/pool/main/m/media-types/media-types_10.0.0_all.deb' media-types_10.0.0_all.deb 26136 "
    "SHA256:zz\n"
    "W: some warning line\n";

TEST(AptParse, PrintUrisLines) {
  auto refs = parse_print_uris(kPrintUris);
  ASSERT_TRUE(refs) << refs.error().what();
  ASSERT_EQ(refs->size(), 4u);
  const auto& libc = (*refs)[0];
  EXPECT_EQ(libc.name, "libc6");
  EXPECT_EQ(libc.version, "2.36-9+deb12u14");
  EXPECT_EQ(libc.architecture, "amd64");
  EXPECT_EQ(libc.size, 2759320u);
  EXPECT_EQ(libc.hash_algorithm, "MD5");
  EXPECT_EQ(libc.hash, "8d98f0c882f269aaee8437bcfe89346e");
  const auto& attr = (*refs)[1];
  EXPECT_EQ(attr.version, "1:2.5.1-4");  // epoch decoded from %3a
  EXPECT_EQ(attr.filename, "libattr1_1%3a2.5.1-4_amd64.deb");
  EXPECT_EQ(attr.hash_algorithm, "SHA256");
  EXPECT_EQ(attr.hash.substr(0, 4), "00be");  // lower-cased
  EXPECT_TRUE((*refs)[2].hash_algorithm.empty());  // apt printed no hash
  EXPECT_EQ((*refs)[3].architecture, "all");
  EXPECT_TRUE((*refs)[3].hash.empty());  // not hex: ignored rather than trusted
}

TEST(AptParse, RejectsMalformedUriLines) {
  const char* bad[] = {
      "'http://x/unterminated libc6_1_amd64.deb 1\n",
      "'http://x/a' libc6_1_amd64.deb\n",
      "'http://x/a' libc6_1_amd64.deb 12x\n",
      "'http://x/a' ../../etc/passwd_1_amd64.deb 1\n",
      "'http://x/a' noversion_amd64.deb 1\n",
      "'http://x/a' libc6_1_amd64.tar 1\n",
  };
  for (const char* text : bad) EXPECT_FALSE(parse_print_uris(text)) << text;
  auto empty = parse_print_uris("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(AptParse, KernelMetaPackageDependency) {
  auto t = parse_depends_target("linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n", "linux-image-");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "linux-image-6.1.0-56-cloud-amd64");
  auto alt = parse_depends_target("x\n |Depends: <virtual>\n  Depends: kmod\n  Depends: linux-image-6.1.0-9-amd64\n", "linux-image-");
  ASSERT_TRUE(alt);
  EXPECT_EQ(*alt, "linux-image-6.1.0-9-amd64");
  EXPECT_EQ(parse_depends_target("x\n  Depends: kmod\n", "linux-image-").error().errc(), Errc::not_found);
}

}  // namespace
}  // namespace firerun::image::detail
