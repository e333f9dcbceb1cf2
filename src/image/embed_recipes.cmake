# Turns recipes/*.yaml into a C++ source so built-in recipes stay data files.
# Usage: cmake -DOUT=<file.cc> -DIN_DIR=<dir with *.yaml> -P embed_recipes.cmake
file(GLOB IN_FILES ${IN_DIR}/*.yaml)
list(SORT IN_FILES)
set(body "// Generated from src/image/recipes/*.yaml by embed_recipes.cmake. Do not edit.\n#include \"image/recipe_data.h\"\n\nnamespace firerun::image::detail {\n\nconst std::vector<EmbeddedRecipe>& embedded_recipes() {\n  static const std::vector<EmbeddedRecipe> all = {\n")
foreach(f ${IN_FILES})
  file(READ ${f} text)
  get_filename_component(stem ${f} NAME_WE)
  string(APPEND body "    {\"${stem}\", R\"firerun_recipe(${text})firerun_recipe\"},\n")
endforeach()
string(APPEND body "  };\n  return all;\n}\n\n}  // namespace firerun::image::detail\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
