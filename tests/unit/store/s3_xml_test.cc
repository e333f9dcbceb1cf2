// S3 error bodies -> typed errors, and the multipart/list documents.
#include "cloud/aws/s3_xml.h"

#include <gtest/gtest.h>

namespace firerun::cloud::aws {
namespace {

TEST(S3Errors, CodesMapToFirerunConditions) {
  struct Case {
    const char* code;
    long status;
    Errc errc;
    bool retryable;
  };
  for (const auto& c : {Case{"NoSuchKey", 404, Errc::not_found, false}, Case{"NoSuchBucket", 404, Errc::not_found, false},
                        Case{"AccessDenied", 403, Errc::auth, false},
                        Case{"SignatureDoesNotMatch", 403, Errc::auth, false},
                        Case{"InvalidAccessKeyId", 403, Errc::auth, false},
                        Case{"SlowDown", 503, Errc::limit_exceeded, true},
                        Case{"InternalError", 500, Errc::backend_failed, true},
                        Case{"", 503, Errc::limit_exceeded, true}, Case{"", 502, Errc::backend_failed, true},
                        Case{"", 404, Errc::not_found, false}, Case{"", 403, Errc::auth, false},
                        Case{"SomethingNew", 400, Errc::invalid_argument, false}}) {
    auto e = classify_s3_error(c.code, c.status);
    EXPECT_EQ(e.errc, c.errc) << c.code << " " << c.status;
    EXPECT_EQ(e.retryable, c.retryable) << c.code << " " << c.status;
  }
}

TEST(S3Errors, ParsesTheXmlBody) {
  const char* body = R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b</Key><RequestId>R1</RequestId></Error>)";
  auto e = parse_s3_error(body, 404);
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.errc, Errc::not_found);
  auto err = e.to_error("GetObject", "s3://b/a/b");
  EXPECT_EQ(err, Errc::not_found);
  EXPECT_EQ(err.message(), "S3 GetObject s3://b/a/b: NoSuchKey: The specified key does not exist. (HTTP 404, request R1)");
  // Garbage and hostile bodies fall back to the status.
  EXPECT_EQ(parse_s3_error("<html>oops", 503).errc, Errc::limit_exceeded);
  EXPECT_EQ(parse_s3_error("<!DOCTYPE x [<!ENTITY a 'b'>]><Error><Code>&a;</Code></Error>", 403).code, "");
}

TEST(S3Multipart, InitiateCompleteAndLateErrors) {
  EXPECT_EQ(parse_initiate_multipart_upload(
                "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
                "<Key>k</Key><UploadId>abc-123</UploadId></InitiateMultipartUploadResult>")
                .value(),
            "abc-123");
  EXPECT_EQ(parse_initiate_multipart_upload("<InitiateMultipartUploadResult/>").error(), Errc::protocol);
  EXPECT_EQ(parse_initiate_multipart_upload("<Other><UploadId>x</UploadId></Other>").error(), Errc::protocol);
  EXPECT_EQ(complete_multipart_upload_xml({"\"e1\"", "<&>"}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&lt;&amp;&gt;</ETag></Part></CompleteMultipartUpload>");
  EXPECT_TRUE(check_complete_multipart_upload("<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>", "s3://b/k"));
  auto late = check_complete_multipart_upload("<Error><Code>InternalError</Code><Message>m</Message></Error>", "s3://b/k");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error(), Errc::backend_failed);
}

TEST(S3List, ParsesPagesAndRejectsMalformedEntries) {
  auto page = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>"
      "<Contents><Key>a/1</Key><Size>10</Size></Contents><Contents><Key>a/2</Key><Size>0</Size></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(page) << page.error().what();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a/1");
  EXPECT_EQ(page->objects[0].size, 10u);
  EXPECT_EQ(page->next_continuation_token, "t2");
  EXPECT_EQ(parse_list_objects_v2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
                .value()
                .objects.size(),
            0u);
  for (const char* bad : {"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
                          "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
                          "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "", "<a><b></a>"}) {
    auto r = parse_list_objects_v2(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), Errc::protocol) << bad;
    }
  }
}

}  // namespace
}  // namespace firerun::cloud::aws
