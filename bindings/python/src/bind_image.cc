// Images: find or build a cached kernel + initramfs.
#include "common.h"

#include "firerun/image.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <unistd.h>

#include <cstdlib>

namespace firerun::python {
namespace {

namespace fs = std::filesystem;

// The guest agent that becomes the image's /init: $FIRERUN_AGENT, then the
// build tree's agent, then the installed one.
Result<fs::path> locate_agent() {
  if (const char* env = std::getenv("FIRERUN_AGENT")) {
    if (::access(env, X_OK) == 0) return fs::path(env);
    return make_error(Errc::not_found, std::string("FIRERUN_AGENT=") + env + " is not an executable file");
  }
  std::string looked;
  for (const char* candidate : {FIRERUN_AGENT_BUILD_PATH, FIRERUN_AGENT_INSTALL_PATH}) {
    if (!*candidate) continue;
    if (::access(candidate, X_OK) == 0) return fs::path(candidate);
    looked += std::string(", ") + candidate;
  }
  return make_error(Errc::not_found, "firerun-agent not found (looked in $FIRERUN_AGENT" + looked +
                                         "); pass agent=... or set FIRERUN_AGENT");
}

fs::path cache_or_default(const std::optional<fs::path>& cache) { return cache ? *cache : fs::path(); }

}  // namespace

void bind_images(py::module_& m) {
  py::class_<image::Image>(m, "Image", "A verified kernel + initramfs in the image cache.")
      .def_readonly("name", &image::Image::name)
      .def_readonly("hash", &image::Image::hash)
      .def_readonly("dir", &image::Image::dir)
      .def_readonly("kernel", &image::Image::kernel)
      .def_readonly("initrd", &image::Image::initrd)
      .def_readonly("manifest", &image::Image::manifest)
      .def_readonly("kernel_release", &image::Image::kernel_release)
      .def_readonly("cmdline", &image::Image::cmdline)
      .def_readonly("from_cache", &image::Image::from_cache)
      .def("__repr__", [](const image::Image& i) {
        return "<firerun.Image " + i.name + " " + i.hash.substr(0, 12) + " kernel " + i.kernel_release + ">";
      });

  m.def("default_cache_root", &image::default_cache_root,
        "$XDG_CACHE_HOME/firerun, else $HOME/.cache/firerun.");

  m.def(
      "find_image",
      [](const std::string& name, const std::optional<fs::path>& cache, const std::optional<fs::path>& agent) {
        py::gil_scoped_release release;
        if (agent) return unwrap(image::find_image_for_agent(name, *agent, cache_or_default(cache)));
        return unwrap(image::find_image(name, cache_or_default(cache)));
      },
      py::arg("name"), py::arg("cache") = py::none(), py::arg("agent") = py::none(),
      "The most recently built image `name` in the cache (no network). With `agent`, only an image\n"
      "embedding exactly that agent binary. Raises NotFound.");

  m.def(
      "build_image",
      [](const std::string& name, const std::optional<fs::path>& cache, const std::optional<fs::path>& agent,
         const std::vector<fs::path>& recipe_dirs, bool force, const py::object& progress) {
        image::BuildOptions opts;
        opts.recipe = name;
        opts.cache_root = cache_or_default(cache);
        opts.recipe_dirs = recipe_dirs;
        opts.force = force;
        opts.agent_path = agent ? *agent : unwrap(locate_agent());
        // The build runs on this thread with the GIL released; the progress
        // callback takes it back. A raising callback stops reporting, and its
        // exception is re-raised once the build is over.
        std::optional<py::error_already_set> callback_error;
        if (!progress.is_none())
          opts.progress = [&progress, &callback_error](std::string_view stage, double fraction) {
            py::gil_scoped_acquire acquire;
            if (callback_error) return;
            try {
              progress(std::string(stage), fraction);
            } catch (py::error_already_set& e) {
              callback_error.emplace(std::move(e));
            }
          };
        Result<image::Image> img = make_error(Errc::internal, "build did not run");
        {
          py::gil_scoped_release release;
          img = image::build_image(opts);
        }
        if (callback_error) throw std::move(*callback_error);
        return unwrap(std::move(img));
      },
      py::arg("name"), py::arg("cache") = py::none(), py::arg("agent") = py::none(),
      py::arg("recipe_dirs") = std::vector<fs::path>{}, py::arg("force") = false, py::arg("progress") = py::none(),
      "Returns the cached image for recipe `name` or builds it from Debian packages (needs apt).\n"
      "`progress(stage: str, fraction: float)` is called as the build advances (fraction -1 = unknown).");

  m.def(
      "recipes",
      [](const std::vector<fs::path>& recipe_dirs) {
        auto all = unwrap(image::load_recipes(recipe_dirs));
        py::dict out;
        for (const auto& r : all) out[py::str(r.name)] = r.description;
        return out;
      },
      py::arg("recipe_dirs") = std::vector<fs::path>{},
      "Known image recipes (built-ins plus *.yaml in recipe_dirs): {name: description}.");
}

}  // namespace firerun::python
