// Image stores: share built guest images between hosts through an artifact
// store (a directory, e.g. on NFS, or an S3 bucket / S3-compatible server).
//
//   firerun::store::ImageStoreRegistry registry;
//   firerun::store::register_builtin_image_stores(registry).value();
//   auto store = firerun::store::open_image_store(registry, "s3://my-bucket/images?region=eu-west-1").value();
//   store->push(firerun::image::find_image("python").value()).value();
//   // on another host:
//   auto img = store->pull("python", "latest", firerun::image::default_cache_root()).value();
//
// Layout under the store's root (a directory or bucket + prefix):
//   <name>/<hash>/vmlinuz, initrd.cpio, manifest.json   one object per artifact
//   <name>/<hash>/complete.json                          the index: size + sha256 per artifact (written after them)
//   <name>/latest                                        the hash last pushed (written last)
// pull() checks every artifact against complete.json while downloading into a
// temp dir beside the cache entry, verifies the result with image::open_image()
// and only then renames it into place, so nothing half-installed is ever visible.
#pragma once

#include "firerun/error.h"
#include "firerun/image.h"
#include "firerun/registry.h"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::store {

/// One image version held by a store.
struct RemoteImage {
  std::string name;     ///< image (recipe) name
  std::string hash;     ///< image hash
  bool latest = false;  ///< what "latest" currently points at
};

/// Where images are shared. Implementations are thread-compatible (one caller at a time).
class ImageStore {
 public:
  virtual ~ImageStore() = default;
  /// The store's URI without credentials ("s3://bucket/prefix", "file:///srv/images").
  virtual std::string uri() const = 0;
  /// Verifies the local image with open_image(), uploads its artifacts, then its index, then
  /// moves `latest` to it. Re-pushing an image already complete in the store only moves `latest`.
  virtual Status push(const image::Image& image) = 0;
  /// Downloads `name` at `hash` ("latest" for the last pushed) into <cache_root>/images/<name>/<hash>
  /// (verified) and points the cache's `current` at it. A verified local copy is reused.
  virtual Result<image::Image> pull(std::string_view name, std::string_view hash,
                                    const std::filesystem::path& cache_root) = 0;
  /// The versions of `name` whose index is present (empty when none).
  virtual Result<std::vector<RemoteImage>> list(std::string_view name) = 0;
  /// Whether `name` at `hash` is completely pushed (its index exists).
  virtual Result<bool> exists(std::string_view name, std::string_view hash) = 0;
};

/// Registry entry opening a store from a URI of its scheme.
class ImageStoreFactory {
 public:
  virtual ~ImageStoreFactory() = default;
  /// Name (= URI scheme), description and status for listings.
  virtual BackendInfo info() const = 0;
  /// Opens a store; malformed URIs and unknown parameters are Errc::invalid_argument.
  virtual Result<std::unique_ptr<ImageStore>> open(std::string_view uri) const = 0;
};

/// Registry of image stores, keyed by URI scheme.
using ImageStoreRegistry = Registry<ImageStoreFactory>;

/// Adds "file" (file:///abs/dir) and "s3" (s3://bucket[/prefix][?region=R&endpoint=URL&part_size=BYTES]).
Status register_builtin_image_stores(ImageStoreRegistry& registry);

/// Opens `uri` with the factory of its scheme; a bare absolute path means file://<path>.
Result<std::unique_ptr<ImageStore>> open_image_store(const ImageStoreRegistry& registry, std::string_view uri);

}  // namespace firerun::store
