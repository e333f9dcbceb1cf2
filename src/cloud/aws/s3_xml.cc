#include "cloud/aws/s3_xml.h"

#include "cloud/aws/ec2_xml.h"

#include <array>
#include <charconv>

namespace firerun::cloud::aws {
namespace {

Error protocol_error(std::string_view what, std::string_view problem) {
  return make_error(Errc::protocol, "S3 " + std::string(what) + " response: " + std::string(problem));
}

std::string text(const XmlTree& node, const char* path) { return node.get<std::string>(path, ""); }

// The single root element, which must be called `name`.
Result<const XmlTree*> root(const XmlTree& doc, std::string_view name, std::string_view what) {
  for (const auto& [element, child] : doc)
    if (element == name) return &child;
  return protocol_error(what, "root element is not <" + std::string(name) + ">");
}

void xml_escape_into(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
}

struct CodeClass {
  std::string_view code;
  Errc errc;
  bool retryable;
};

constexpr std::array kKnownCodes{
    CodeClass{"NoSuchKey", Errc::not_found, false},
    CodeClass{"NoSuchBucket", Errc::not_found, false},
    CodeClass{"NoSuchUpload", Errc::not_found, false},
    CodeClass{"AccessDenied", Errc::auth, false},
    CodeClass{"SignatureDoesNotMatch", Errc::auth, false},
    CodeClass{"InvalidAccessKeyId", Errc::auth, false},
    CodeClass{"ExpiredToken", Errc::auth, false},
    CodeClass{"InvalidToken", Errc::auth, false},
    CodeClass{"TokenRefreshRequired", Errc::auth, false},
    CodeClass{"RequestTimeTooSkewed", Errc::auth, false},
    CodeClass{"AuthorizationHeaderMalformed", Errc::auth, false},
    CodeClass{"SlowDown", Errc::limit_exceeded, true},
    CodeClass{"ServiceUnavailable", Errc::backend_failed, true},
    CodeClass{"InternalError", Errc::backend_failed, true},
    CodeClass{"RequestTimeout", Errc::timeout, true},
    CodeClass{"EntityTooSmall", Errc::invalid_argument, false},
    CodeClass{"EntityTooLarge", Errc::limit_exceeded, false},
    CodeClass{"InvalidPart", Errc::bad_state, false},
    CodeClass{"InvalidPartOrder", Errc::bad_state, false},
    CodeClass{"BadDigest", Errc::protocol, false},
    CodeClass{"XAmzContentSHA256Mismatch", Errc::protocol, false},
};

}  // namespace

S3Error classify_s3_error(std::string code, long http_status) {
  S3Error e;
  e.code = std::move(code);
  e.http_status = http_status;
  for (const auto& known : kKnownCodes) {
    if (known.code == e.code) {
      e.errc = known.errc;
      e.retryable = known.retryable;
      return e;
    }
  }
  // Unknown or absent code (HEAD answers have no body): go by the status.
  if (http_status == 404) e.errc = Errc::not_found;
  else if (http_status == 401 || http_status == 403) e.errc = Errc::auth;
  else if (http_status == 429 || http_status == 503) e.errc = Errc::limit_exceeded, e.retryable = true;
  else if (http_status >= 500) e.errc = Errc::backend_failed, e.retryable = true;
  else if (http_status >= 400) e.errc = Errc::invalid_argument;
  else e.errc = Errc::protocol;  // a non-error status we did not expect
  return e;
}

S3Error parse_s3_error(std::string_view body, long http_status) {
  std::string code, message, request_id;
  if (auto tree = parse_xml(body, "error"); tree) {
    if (auto error = tree->get_child_optional("Error")) {
      code = text(*error, "Code");
      message = text(*error, "Message");
      request_id = text(*error, "RequestId");
    }
  }
  S3Error e = classify_s3_error(std::move(code), http_status);
  e.message = std::move(message);
  e.request_id = std::move(request_id);
  return e;
}

Error S3Error::to_error(std::string_view operation, std::string_view location) const {
  std::string msg = "S3 " + std::string(operation) + " " + std::string(location) + ": ";
  msg += code.empty() ? "HTTP error" : code;
  if (!message.empty()) msg += ": " + message;
  msg += " (HTTP " + std::to_string(http_status);
  if (!request_id.empty()) msg += ", request " + request_id;
  msg += ")";
  return make_error(errc, std::move(msg));
}

Result<std::string> parse_initiate_multipart_upload(std::string_view body) {
  constexpr std::string_view what = "CreateMultipartUpload";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "InitiateMultipartUploadResult", what));
  auto upload_id = text(*node, "UploadId");
  if (upload_id.empty()) return protocol_error(what, "no UploadId");
  return upload_id;
}

std::string complete_multipart_upload_xml(const std::vector<std::string>& etags) {
  std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (std::size_t i = 0; i < etags.size(); ++i) {
    out += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>";
    xml_escape_into(out, etags[i]);
    out += "</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

Status check_complete_multipart_upload(std::string_view body, std::string_view location) {
  constexpr std::string_view what = "CompleteMultipartUpload";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  if (tree.get_child_optional("Error")) return parse_s3_error(body, 200).to_error(what, location);
  FIRERUN_TRY(auto node, root(tree, "CompleteMultipartUploadResult", what));
  (void)node;
  return {};
}

Result<S3ListPage> parse_list_objects_v2(std::string_view body) {
  constexpr std::string_view what = "ListObjectsV2";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "ListBucketResult", what));
  S3ListPage page;
  for (const auto& [element, child] : *node) {
    if (element != "Contents") continue;
    S3ListedObject object;
    object.key = text(child, "Key");
    if (object.key.empty()) return protocol_error(what, "an entry has no Key");
    auto size = text(child, "Size");
    auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), object.size);
    if (ec != std::errc() || end != size.data() + size.size() || size.empty())
      return protocol_error(what, "an entry has a malformed Size");
    page.objects.push_back(std::move(object));
  }
  if (text(*node, "IsTruncated") == "true") {
    page.next_continuation_token = text(*node, "NextContinuationToken");
    if (page.next_continuation_token.empty()) return protocol_error(what, "truncated listing without NextContinuationToken");
  }
  return page;
}

}  // namespace firerun::cloud::aws
