// s3://bucket/prefix — objects in an S3 bucket or an S3-compatible server.
#include "cloud/aws/s3_client.h"
#include "store/object_store.h"
#include "store/s3_store.h"

#include <boost/url/parse.hpp>

#include <charconv>

namespace firerun::store {
namespace aws = firerun::cloud::aws;

namespace {

Result<std::uint64_t> parse_size(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t unit = 1;
  if (suffix == "KiB") unit = 1ull << 10;
  else if (suffix == "MiB") unit = 1ull << 20;
  else if (suffix == "GiB") unit = 1ull << 30;
  else if (!suffix.empty()) ec = std::errc::invalid_argument;
  if (ec != std::errc() || end == text.data() || value > (UINT64_MAX / unit))
    return make_error(Errc::invalid_argument, std::string(what) + " '" + std::string(text).substr(0, 40) +
                                                  "' is not a size (bytes, or with KiB/MiB/GiB)");
  return value * unit;
}

class S3ObjectStore final : public ObjectStore {
 public:
  S3ObjectStore(aws::S3Client client, std::string prefix) : client_(std::move(client)), prefix_(std::move(prefix)) {}

  std::string location(std::string_view key) const override { return client_.location(full(key)); }

  Status put_file(std::string_view key, const std::filesystem::path& file) override {
    return client_.upload_file(full(key), file);
  }
  Status put_bytes(std::string_view key, std::string_view bytes) override {
    return client_.put_object(full(key), std::string(bytes));
  }
  Status get(std::string_view key, const ObjectSink& sink) override {
    aws::S3ObjectSink s3_sink{sink.write, sink.restart};
    return client_.get_object(full(key), s3_sink);
  }
  Result<std::string> get_bytes(std::string_view key, std::size_t max_bytes) override {
    return client_.get_object_bytes(full(key), max_bytes);
  }
  Result<bool> exists(std::string_view key) override {
    FIRERUN_TRY(auto info, client_.head_object(full(key)));
    return info.has_value();
  }
  Result<std::vector<std::string>> list(std::string_view prefix) override {
    FIRERUN_TRY(auto objects, client_.list_objects(full(prefix)));
    std::vector<std::string> keys;
    for (auto& o : objects)
      if (o.key.starts_with(prefix_)) keys.push_back(o.key.substr(prefix_.size()));
    return keys;
  }

 private:
  std::string full(std::string_view key) const { return prefix_ + std::string(key); }

  aws::S3Client client_;
  std::string prefix_;
};

class S3StoreFactory final : public ImageStoreFactory {
 public:
  BackendInfo info() const override {
    return {"s3", "images in an S3 bucket or S3-compatible server: s3://bucket/prefix?region=&endpoint=", "experimental",
            {}};
  }

  Result<std::unique_ptr<ImageStore>> open(std::string_view uri) const override {
    FIRERUN_TRY(auto where, parse_s3_store_uri(uri));
    aws::S3ClientOptions options;
    options.bucket = where.bucket;
    if (!where.region.empty()) {
      options.region = where.region;
    } else if (auto region = aws::resolve_region()) {
      options.region = *region;
    }
    options.endpoint = where.endpoint;
    if (where.part_size) options.part_size = where.part_size;
    if (where.multipart_threshold) options.multipart_threshold = where.multipart_threshold;
    options.credentials = std::shared_ptr<aws::CredentialsProvider>(aws::CredentialsChain::make_default());
    FIRERUN_TRY(auto client, add_context(aws::S3Client::create(std::move(options)), "opening image store"));
    std::string shown = "s3://" + where.bucket + "/" + where.prefix;
    return make_object_image_store(std::make_unique<S3ObjectStore>(std::move(client), where.prefix), shown);
  }
};

}  // namespace

Result<S3StoreLocation> parse_s3_store_uri(std::string_view uri) {
  auto bad = [&](std::string why) {
    return make_error(Errc::invalid_argument, "image store URI '" + uri_for_messages(uri) + "': " + why);
  };
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) return bad("not a valid URI");
  if (parsed->scheme() != "s3") return bad("not an s3:// URI");
  if (parsed->has_userinfo()) return bad("credentials do not belong in the URI (use the AWS environment or files)");
  if (parsed->has_port()) return bad("s3://bucket takes no port (use endpoint=http://host:port)");
  if (parsed->has_fragment()) return bad("no fragment allowed");
  S3StoreLocation out;
  out.bucket = parsed->host();
  if (out.bucket.empty()) return bad("no bucket (s3://bucket/prefix)");
  std::string path = parsed->path();
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty()) {
    std::string_view rest = path;
    while (!rest.empty()) {
      auto segment = rest.substr(0, rest.find('/'));
      if (segment.empty() || segment == "." || segment == "..")
        return bad("the prefix must not have empty, '.' or '..' segments");
      rest.remove_prefix(std::min(rest.size(), segment.size() + 1));
    }
    if (path.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) return bad("control characters in the prefix");
    out.prefix = path + "/";
  }
  for (auto param : parsed->params()) {
    const std::string key = param.key;
    const std::string value = param.value;
    if (key == "region") {
      if (value.empty() || value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        return bad("region '" + value.substr(0, 40) + "' is not a region name");
      out.region = value;
    } else if (key == "endpoint") {
      if (!value.starts_with("http://") && !value.starts_with("https://"))
        return bad("endpoint must be an http:// or https:// URL");
      out.endpoint = value;
    } else if (key == "part_size") {
      FIRERUN_TRY(out.part_size, add_context(parse_size(value, "part_size"), "image store URI"));
      if (out.part_size < aws::kS3MinPartSize) return bad("part_size must be at least 5 MiB (S3's minimum)");
    } else if (key == "multipart_threshold") {
      FIRERUN_TRY(out.multipart_threshold, add_context(parse_size(value, "multipart_threshold"), "image store URI"));
      if (out.multipart_threshold < aws::kS3MinPartSize) return bad("multipart_threshold must be at least 5 MiB");
    } else {
      return bad("unknown parameter '" + key.substr(0, 40) + "' (known: region, endpoint, part_size, multipart_threshold)");
    }
  }
  return out;
}

std::shared_ptr<ImageStoreFactory> make_s3_store_factory() { return std::make_shared<S3StoreFactory>(); }

}  // namespace firerun::store
