// File names inside a snapshot directory and the writer of snapshot.json.
#pragma once

#include "firerun/vm.h"

namespace firerun::detail {

inline constexpr const char* kSnapshotMetaFile = "snapshot.json";
inline constexpr const char* kSnapshotStateFile = "vm.state";

/// Writes snapshot.json atomically (last, so a partial snapshot never opens).
Status write_snapshot_meta(const Snapshot& snapshot);

}  // namespace firerun::detail
