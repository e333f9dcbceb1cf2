// The per-image index object (<name>/<hash>/complete.json): the cache's
// completion record, stored verbatim. pull() trusts nothing in it that it has
// not checked: name and hash must be the ones asked for, artifact names are
// plain file names, sizes and sha256 values well-formed.
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::store {

struct IndexedArtifact {
  std::string file;    ///< "vmlinuz", "initrd.cpio", "manifest.json"
  std::uint64_t size = 0;
  std::string sha256;  ///< 64 lowercase hex digits
};

/// [a-z0-9][a-z0-9._-]{0,63}, like recipe names.
bool valid_image_name(std::string_view name);
/// 64 lowercase hex digits.
bool valid_image_hash(std::string_view hash);

/// Parses and checks an index for image `name` at `hash`; anything off is Errc::bad_state
/// ("the store holds a corrupt index") naming `where`.
Result<std::vector<IndexedArtifact>> parse_image_index(std::string_view text, std::string_view name,
                                                       std::string_view hash, std::string_view where);

}  // namespace firerun::store
