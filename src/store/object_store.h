// The object layer under every image store: a flat key -> bytes namespace
// (a directory tree, or an S3 bucket + prefix). ObjectImageStore implements
// push/pull/list/exists once on top of it, so the file and S3 stores differ
// only in how bytes move.
#pragma once

#include "firerun/error.h"
#include "firerun/image_store.h"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::store {

/// Where a download goes. restart() runs before a retried transfer resends from byte 0.
struct ObjectSink {
  std::function<Status(std::string_view chunk)> write;
  std::function<Status()> restart;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  /// What messages call an object ("s3://bucket/prefix/<key>", "/srv/images/<key>").
  virtual std::string location(std::string_view key) const = 0;
  /// Stores a file's content under `key`; readers never see a partial object.
  virtual Status put_file(std::string_view key, const std::filesystem::path& file) = 0;
  /// Stores bytes under `key`; readers never see a partial object.
  virtual Status put_bytes(std::string_view key, std::string_view bytes) = 0;
  /// Streams an object into `sink`; a missing one is Errc::not_found naming its location.
  virtual Status get(std::string_view key, const ObjectSink& sink) = 0;
  /// A small object in memory; larger than max_bytes is Errc::limit_exceeded.
  virtual Result<std::string> get_bytes(std::string_view key, std::size_t max_bytes) = 0;
  /// Whether the object exists.
  virtual Result<bool> exists(std::string_view key) = 0;
  /// Keys starting with `prefix`, in no particular order.
  virtual Result<std::vector<std::string>> list(std::string_view prefix) = 0;
};

/// `uri` as error messages may echo it: userinfo ("key:secret@") replaced by "<redacted>@", capped at 200 chars.
std::string uri_for_messages(std::string_view uri);

/// The ImageStore over `objects`; `uri` (without secrets) is what messages name.
std::unique_ptr<ImageStore> make_object_image_store(std::unique_ptr<ObjectStore> objects, std::string uri);

/// Directory-backed objects under `root` (created on first write).
std::unique_ptr<ObjectStore> make_file_object_store(std::filesystem::path root);

/// The factories behind register_builtin_image_stores().
std::shared_ptr<ImageStoreFactory> make_file_store_factory();
std::shared_ptr<ImageStoreFactory> make_s3_store_factory();

}  // namespace firerun::store
