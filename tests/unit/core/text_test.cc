#include "firerun/text.h"

#include <gtest/gtest.h>

using namespace firerun;

TEST(Utf8, ValidTextIsUnchanged) {
  for (std::string s : {"", "hello", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(is_valid_utf8(s)) << s;
    EXPECT_EQ(to_valid_utf8(s), s);
  }
}

TEST(Utf8, IllFormedSequencesBecomeOneReplacementEach) {
  const std::string fffd = "\xef\xbf\xbd";
  // A multibyte character cut by the output cap.
  EXPECT_EQ(to_valid_utf8("ab\xe2\x82"), "ab" + fffd);
  // Lone continuation bytes, invalid lead bytes, overlongs, surrogates, past U+10FFFF.
  EXPECT_EQ(to_valid_utf8("\x80\x80"), fffd + fffd);
  EXPECT_EQ(to_valid_utf8("\xff"), fffd);
  EXPECT_EQ(to_valid_utf8("\xc0\xaf"), fffd + fffd);
  EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(to_valid_utf8("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  // A truncated sequence followed by ASCII keeps the ASCII.
  EXPECT_EQ(to_valid_utf8("\xe2\x82x"), fffd + "x");
  for (std::string s : {"\x80", "\xc3", "\xe0\x80\x80", "\xf0\x9f\x98"}) EXPECT_FALSE(is_valid_utf8(s));
  // Every byte value, every position: the output is always valid.
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_TRUE(is_valid_utf8(to_valid_utf8(all)));
}

TEST(Base64, RoundTripsEveryByteAndRejectsGarbage) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    auto decoded = base64_decode(base64_encode(all.substr(0, n)));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, all.substr(0, n));
  }
  EXPECT_EQ(base64_decode("Zm8").value(), "fo");          // padding left out
  EXPECT_EQ(base64_decode("Zm9v\nZm9v").value(), "foofoo");  // line breaks
  for (const char* bad : {"@@@@", "Zm=v", "Z", "Zm9v====", "Zm 9v"})
    EXPECT_EQ(base64_decode(bad).error(), Errc::invalid_argument) << bad;
}
