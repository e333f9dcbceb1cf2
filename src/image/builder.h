// Internals of build_image() that tests exercise directly.
#pragma once

#include "image/apt.h"

#include <string>
#include <vector>

namespace firerun::image::detail {

/// Everything an image's content depends on.
struct ImageInputs {
  std::string canonical_recipe;       ///< canonical_recipe(recipe)
  std::vector<PackageRef> packages;   ///< resolved closure (order does not matter)
  PackageRef kernel;                  ///< versioned kernel package
  std::string agent_sha256;           ///< of the agent binary
  std::vector<std::string> source_sha256;  ///< content digests of the recipe's archives then binaries, in order
};

/// Hex sha256 over the inputs and the builder format version.
std::string compute_image_hash(const ImageInputs& inputs);

}  // namespace firerun::image::detail
