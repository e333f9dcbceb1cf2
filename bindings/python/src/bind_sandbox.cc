// Running source code in a language: Vm.run_code and the one-shot firerun.run_code.
#include "py_vm.h"

#include "firerun/image.h"
#include "firerun/sandbox.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>

namespace firerun::python {
namespace {

namespace fs = std::filesystem;

sandbox::CodeRequest make_code_request(const std::string& language, const py::object& code, const py::dict& files,
                                       const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env, const py::object& stdin_data,
                                       const py::object& timeout, const py::object& compile_timeout,
                                       std::uint64_t output_cap) {
  sandbox::CodeRequest req;
  req.language = language;
  req.code = bytes_arg(code, "code");
  for (auto [name, content] : files) {
    if (!py::isinstance<py::str>(name)) throw py::type_error("files keys must be str file names");
    req.files.push_back({name.cast<std::string>(), bytes_arg(content, "files values")});
  }
  req.args = args;
  req.env = env;
  if (!stdin_data.is_none()) req.stdin_data = bytes_arg(stdin_data, "stdin");
  req.timeout = *seconds_arg(timeout, "timeout", false);
  req.compile_timeout = *seconds_arg(compile_timeout, "compile_timeout", false);
  req.output_cap = output_cap;
  return req;
}

// Validates and runs on the VM's runtime; call with the GIL released.
sandbox::CodeResult run_in(blocking::Runtime& runtime, blocking::Vm& vm, const sandbox::CodeRequest& req) {
  unwrap(sandbox::validate(req));
  const sandbox::Language* language = unwrap(sandbox::find_language(req.language));
  // run() blocks until the task is done, so `language` and `req` outlive it.
  return unwrap(runtime.run(sandbox::run_code(vm.async_vm(), *language, req)));
}

// The keyword arguments shared by Vm.run_code and firerun.run_code.
#define FIRERUN_CODE_ARGS                                                                                      \
  py::arg("language"), py::arg("code"), py::kw_only(), py::arg("files") = py::dict(),                         \
      py::arg("args") = std::vector<std::string>{}, py::arg("env") = std::map<std::string, std::string>{},    \
      py::arg("stdin") = py::none(), py::arg("timeout") = 10.0, py::arg("compile_timeout") = 60.0,            \
      py::arg("output_cap") = std::uint64_t{1u << 20}

}  // namespace

void add_sandbox_methods(py::class_<PyVm>& cls) {
  cls.def(
      "run_code",
      [](PyVm& self, const std::string& language, const py::object& code, const py::dict& files,
         const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
         const py::object& stdin_data, const py::object& timeout, const py::object& compile_timeout,
         std::uint64_t output_cap) {
        auto req = make_code_request(language, code, files, args, env, stdin_data, timeout, compile_timeout, output_cap);
        require_not_in_callback();
        auto vm = self.vm();
        py::gil_scoped_release release;
        return run_in(*self.runtime(), *vm, req);
      },
      FIRERUN_CODE_ARGS,
      "Writes `code` (and `files`, {name: content}) into a fresh work directory in this running VM,\n"
      "compiles if the language needs it, and runs it. The VM must be booted from the language's image.");
}

void bind_sandbox(py::module_& m) {
  py::class_<sandbox::Language>(m, "Language", "A language firerun can run (pure data).")
      .def_readonly("name", &sandbox::Language::name)
      .def_readonly("aliases", &sandbox::Language::aliases)
      .def_readonly("version", &sandbox::Language::version)
      .def_readonly("image", &sandbox::Language::image, "Image recipe providing the toolchain.")
      .def_readonly("source_file", &sandbox::Language::source_file)
      .def_readonly("compile_argv", &sandbox::Language::compile_argv)
      .def_readonly("run_argv", &sandbox::Language::run_argv)
      .def_readonly("min_memory_mib", &sandbox::Language::min_memory_mib)
      .def_readonly("env", &sandbox::Language::env)
      .def("__repr__", [](const sandbox::Language& l) { return "<firerun.Language " + l.name + " " + l.version + ">"; });

  py::class_<sandbox::CodeResult>(m, "CodeResult", "Outcome of run_code: the last phase that ran.")
      .def_property_readonly("phase", [](const sandbox::CodeResult& r) { return std::string(sandbox::to_string(r.phase)); },
                             "'compile' when compilation failed, else 'run'.")
      .def_readonly("exec", &sandbox::CodeResult::exec, "The ExecResult of that phase.")
      .def_readonly("language", &sandbox::CodeResult::language)
      .def_readonly("version", &sandbox::CodeResult::version)
      .def_property_readonly(
          "compile_duration",
          [](const sandbox::CodeResult& r) { return static_cast<double>(r.compile_duration.count()) / 1000.0; })
      .def("__repr__", [](const sandbox::CodeResult& r) {
        return std::string("<firerun.CodeResult ") + r.language + " phase=" + sandbox::to_string(r.phase) + ">";
      });

  m.def("languages", &sandbox::languages, py::return_value_policy::copy, "The built-in languages.");
  m.def(
      "find_language", [](const std::string& name) { return *unwrap(sandbox::find_language(name)); },
      py::arg("name"), "A language by name or alias; raises NotFound listing the known ones.");

  m.def(
      "run_code",
      [](const std::string& language, const py::object& code, const py::dict& files,
         const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
         const py::object& stdin_data, const py::object& timeout, const py::object& compile_timeout,
         std::uint64_t output_cap, const std::optional<fs::path>& cache, std::uint64_t memory_mib,
         const std::string& backend, std::shared_ptr<blocking::Runtime> runtime) {
        auto req = make_code_request(language, code, files, args, env, stdin_data, timeout, compile_timeout, output_cap);
        require_not_in_callback();
        if (!runtime) runtime = default_runtime();
        py::gil_scoped_release release;
        // Everything that can be rejected is, before a VM boots.
        unwrap(sandbox::validate(req));
        const sandbox::Language* lang = unwrap(sandbox::find_language(req.language));
        auto img = unwrap(image::find_image(lang->image, cache ? *cache : fs::path()));
        VmSpec spec = image::vm_spec(img);
        spec.memory_mib = std::max(memory_mib, lang->min_memory_mib);
        auto vm = unwrap(blocking::Vm::create(runtime, backend, std::move(spec)));
        unwrap(vm->start());
        auto result = run_in(*runtime, *vm, req);
        // One VM per request: it is discarded, so a kill is as good as a clean stop.
        (void)vm->kill();
        return result;
      },
      FIRERUN_CODE_ARGS, py::arg("cache") = py::none(), py::arg("memory_mib") = 0, py::arg("backend") = "qemu",
      py::arg("runtime") = py::none(),
      "One-shot: boots a fresh VM from the language's cached image (at least its min_memory_mib,\n"
      "or `memory_mib`), runs the code like Vm.run_code, and destroys the VM.");
}

}  // namespace firerun::python
