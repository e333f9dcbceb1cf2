#include "cloud/aws/s3_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <random>
#include <thread>

namespace firerun::cloud::aws {
namespace {

bool valid_bucket_name(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  if (b.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string_view::npos) return false;
  return b.front() != '.' && b.front() != '-' && b.back() != '.' && b.back() != '-';
}

std::string_view truncate_for_log(std::string_view s) { return s.size() > 80 ? s.substr(0, 80) : s; }

}  // namespace

Result<S3Client> S3Client::create(S3ClientOptions options) {
  auto bad = [](std::string what) { return make_error(Errc::invalid_argument, "S3 client: " + std::move(what)); };
  if (!valid_bucket_name(options.bucket)) return bad("'" + options.bucket + "' is not a valid S3 bucket name");
  if (options.region.empty()) return bad("no region");
  if (!options.credentials) return bad("no credentials provider");
  if (options.part_size < kS3MinPartSize) return bad("part size must be at least 5 MiB");
  if (options.part_size > (5ull << 30)) return bad("part size must be at most 5 GiB");
  if (options.multipart_threshold < kS3MinPartSize) return bad("multipart threshold must be at least 5 MiB");
  if (options.endpoint.empty()) options.endpoint = "https://s3." + options.region + ".amazonaws.com";
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  std::string_view ep = options.endpoint;
  std::string_view rest;
  if (ep.starts_with("http://")) rest = ep.substr(7);
  else if (ep.starts_with("https://")) rest = ep.substr(8);
  else return bad("endpoint '" + options.endpoint + "' must start with http:// or https://");
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos)
    return bad("endpoint '" + options.endpoint + "' must be scheme://host[:port] without a path");
  if (!options.sleep) options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (!options.clock) options.clock = [] { return std::chrono::system_clock::now(); };
  if (!options.random_unit) {
    options.random_unit = [gen = std::make_shared<std::mt19937_64>(std::random_device{}())] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(*gen);
    };
  }
  S3Client client(std::move(options));
  client.host_ = std::string(rest);
  return client;
}

std::string S3Client::location(std::string_view key) const {
  return "s3://" + options_.bucket + "/" + std::string(key);
}

Result<HttpResponse> S3Client::send(Call call) {
  const std::string where = location(call.key);
  const std::string operation(call.operation);
  HttpRequest req;
  req.method = call.method;
  // Path-style; bucket-level requests (listing) address "/<bucket>" without a trailing slash.
  req.path = "/" + options_.bucket;
  if (!call.key.empty()) req.path += "/" + uri_encode(call.key, /*keep_slash=*/true);
  req.query = std::move(call.query);
  req.headers = {{"Host", host_}};
  req.body = std::move(call.body);
  req.payload_hash = options_.sign_payload ? sha256_hex(req.body) : std::string(kUnsignedPayload);
  const SigningConfig signing = SigningConfig::for_s3(options_.region);

  const HttpOptions& http = call.http ? *call.http : options_.small_request;
  bool sink_failed = false;
  const BodySink body_sink = [&](std::string_view chunk) -> Status {
    auto written = call.sink->write(chunk);
    if (!written) sink_failed = true;
    return written;
  };

  last_attempts_ = 0;
  const int attempts = std::max(options_.retry.max_attempts, 1);
  for (int attempt = 0;; ++attempt) {
    ++last_attempts_;
    FIRERUN_TRY(auto creds, add_context(options_.credentials->credentials(), "S3 " + operation + " " + where + ": credentials"));
    // Re-signed on every attempt: X-Amz-Date must stay within S3's 15-minute window.
    FIRERUN_TRY(auto signed_req, add_context(sign(req, creds, signing, options_.clock()), "S3 " + operation + " " + where));
    if (attempt > 0 && call.sink && call.sink->restart)
      FIRERUN_CHECK(add_context(call.sink->restart(), "S3 " + operation + " " + where + ": restarting download"));
    auto response = call.sink ? http_send_streaming(options_.endpoint, signed_req.request, http, body_sink)
                              : http_send(options_.endpoint, signed_req.request, http);
    std::string what_failed;
    if (!response) {
      // Transport failures (refused, reset, timeout) are worth another try, like 5xx; a failing
      // sink (disk full, object larger than expected) or an oversized error body is not.
      bool retryable = !sink_failed && response.error().errc() != Errc::limit_exceeded;
      if (!retryable || attempt + 1 >= attempts)
        return std::move(response).error().with_context("S3 " + operation + " " + where);
      what_failed = response.error().message();
    } else if (response->status >= 200 && response->status < 300) {
      return std::move(*response);
    } else {
      S3Error err = parse_s3_error(response->body, response->status);
      if (!err.retryable || attempt + 1 >= attempts) {
        auto e = err.to_error(operation, where);
        if (err.retryable) e.with_context("gave up after " + std::to_string(attempt + 1) + " attempts");
        return e;
      }
      what_failed = err.code.empty() ? "HTTP " + std::to_string(err.http_status) : err.code;
    }
    auto delay = backoff_delay(options_.retry, attempt, options_.random_unit());
    spdlog::warn("S3 {} {}: {}, retry {}/{} in {} ms", operation, where, truncate_for_log(what_failed), attempt + 1,
                 attempts - 1, delay.count());
    options_.sleep(delay);
  }
}

Status S3Client::put_object(std::string_view key, std::string body) {
  Call call{"PutObject", "PUT", key, "", std::move(body), &options_.transfer, nullptr};
  FIRERUN_TRY(auto response, send(std::move(call)));
  (void)response;
  return {};
}

Status S3Client::get_object(std::string_view key, const S3ObjectSink& sink) {
  Call call{"GetObject", "GET", key, "", "", &options_.transfer, &sink};
  FIRERUN_TRY(auto response, send(std::move(call)));
  (void)response;
  return {};
}

Result<std::string> S3Client::get_object_bytes(std::string_view key, std::size_t max_bytes) {
  std::string out;
  S3ObjectSink sink;
  sink.write = [&](std::string_view chunk) -> Status {
    if (out.size() + chunk.size() > max_bytes)
      return make_error(Errc::limit_exceeded, location(key) + " is larger than " + std::to_string(max_bytes) + " bytes");
    out.append(chunk);
    return {};
  };
  sink.restart = [&]() -> Status {
    out.clear();
    return {};
  };
  Call call{"GetObject", "GET", key, "", "", &options_.small_request, &sink};
  FIRERUN_TRY(auto response, send(std::move(call)));
  (void)response;
  return out;
}

Result<std::optional<S3ObjectInfo>> S3Client::head_object(std::string_view key) {
  Call call{"HeadObject", "HEAD", key, "", "", &options_.small_request, nullptr};
  auto response = send(std::move(call));
  if (!response) {
    if (response.error() == Errc::not_found) return std::optional<S3ObjectInfo>();
    return std::move(response).error();
  }
  S3ObjectInfo info;
  if (const Header* length = response->find_header("Content-Length")) {
    auto [end, ec] = std::from_chars(length->value.data(), length->value.data() + length->value.size(), info.size);
    if (ec != std::errc() || end != length->value.data() + length->value.size())
      return make_error(Errc::protocol, "S3 HeadObject " + location(key) + ": malformed Content-Length");
  }
  if (const Header* etag = response->find_header("ETag")) info.etag = etag->value;
  return std::optional<S3ObjectInfo>(std::move(info));
}

Result<std::vector<S3ListedObject>> S3Client::list_objects(std::string_view prefix) {
  std::vector<S3ListedObject> out;
  std::string token;
  for (int page = 0;; ++page) {
    if (page > 100000) return make_error(Errc::protocol, "S3 ListObjectsV2 " + location(prefix) + ": listing never ends");
    std::string query = "list-type=2&prefix=" + uri_encode(prefix);
    if (!token.empty()) query += "&continuation-token=" + uri_encode(token);
    Call call{"ListObjectsV2", "GET", "", std::move(query), "", &options_.small_request, nullptr};
    FIRERUN_TRY(auto response, add_context(send(std::move(call)), "listing " + location(prefix)));
    FIRERUN_TRY(auto parsed, add_context(parse_list_objects_v2(response.body), "listing " + location(prefix)));
    for (auto& o : parsed.objects) out.push_back(std::move(o));
    if (parsed.next_continuation_token.empty()) return out;
    token = std::move(parsed.next_continuation_token);
  }
}

Result<std::string> S3Client::create_multipart_upload(std::string_view key) {
  Call call{"CreateMultipartUpload", "POST", key, "uploads=", "", &options_.small_request, nullptr};
  FIRERUN_TRY(auto response, send(std::move(call)));
  return add_context(parse_initiate_multipart_upload(response.body), location(key));
}

Result<std::string> S3Client::upload_part(std::string_view key, std::string_view upload_id, int part_number,
                                          std::string body) {
  std::string query = "partNumber=" + std::to_string(part_number) + "&uploadId=" + uri_encode(upload_id);
  Call call{"UploadPart", "PUT", key, std::move(query), std::move(body), &options_.transfer, nullptr};
  FIRERUN_TRY(auto response, send(std::move(call)));
  const Header* etag = response.find_header("ETag");
  if (!etag || etag->value.empty())
    return make_error(Errc::protocol, "S3 UploadPart " + location(key) + ": part " + std::to_string(part_number) +
                                          " answered without an ETag");
  return etag->value;
}

Status S3Client::complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                           const std::vector<std::string>& etags) {
  Call call{"CompleteMultipartUpload", "POST", key, "uploadId=" + uri_encode(upload_id),
            complete_multipart_upload_xml(etags), &options_.transfer, nullptr};
  FIRERUN_TRY(auto response, send(std::move(call)));
  return check_complete_multipart_upload(response.body, location(key));
}

Status S3Client::abort_multipart_upload(std::string_view key, std::string_view upload_id) {
  Call call{"AbortMultipartUpload", "DELETE", key, "uploadId=" + uri_encode(upload_id), "", &options_.small_request,
            nullptr};
  FIRERUN_TRY(auto response, send(std::move(call)));
  (void)response;
  return {};
}

Status S3Client::upload_parts(std::string_view key, std::string_view upload_id, const std::filesystem::path& file,
                              std::uint64_t size, std::vector<std::string>& etags) {
  // Grow the part size if the file would need more than S3's 10,000 parts.
  const std::uint64_t part_size = std::max(options_.part_size, (size + kS3MaxParts - 1) / kS3MaxParts);
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(Errc::io, "opening " + file.string());
  std::uint64_t offset = 0;
  for (int part = 1; offset < size; ++part) {
    const auto length = static_cast<std::size_t>(std::min(part_size, size - offset));
    std::string body(length, '\0');
    if (!in.read(body.data(), static_cast<std::streamsize>(length)))
      return make_error(Errc::io, "reading " + file.string() + " (did it shrink during the upload?)");
    FIRERUN_TRY(auto etag, upload_part(key, upload_id, part, std::move(body)));
    etags.push_back(std::move(etag));
    offset += length;
  }
  return {};
}

Status S3Client::upload_file(std::string_view key, const std::filesystem::path& file) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return make_error(Errc::io, "stat " + file.string() + ": " + ec.message());
  if (size <= options_.multipart_threshold) {
    std::ifstream in(file, std::ios::binary);
    std::string body(static_cast<std::size_t>(size), '\0');
    if (!in || !in.read(body.data(), static_cast<std::streamsize>(size)))
      return make_error(Errc::io, "reading " + file.string());
    return add_context(put_object(key, std::move(body)), "uploading " + file.string());
  }
  FIRERUN_TRY(auto upload_id, add_context(create_multipart_upload(key), "uploading " + file.string()));
  std::vector<std::string> etags;
  Status uploaded = upload_parts(key, upload_id, file, size, etags);
  if (uploaded) uploaded = complete_multipart_upload(key, upload_id, etags);
  if (!uploaded) {
    // Parts of an abandoned upload are stored (and billed) until aborted.
    auto aborted = abort_multipart_upload(key, upload_id);
    if (!aborted) spdlog::warn("could not abort the multipart upload of {}: {}", location(key), aborted.error().what());
    return std::move(uploaded).error().with_context("uploading " + file.string() + " to " + location(key));
  }
  return {};
}

}  // namespace firerun::cloud::aws
