// Built-in recipe YAML compiled into the library (see recipes/*.yaml).
#pragma once

#include <string_view>
#include <vector>

namespace firerun::image::detail {

struct EmbeddedRecipe {
  std::string_view stem;  ///< file name without .yaml ("defaults" holds the defaults)
  std::string_view yaml;
};

const std::vector<EmbeddedRecipe>& embedded_recipes();

}  // namespace firerun::image::detail
