// firerun.Vm over the blocking facade, with ExecResult, VmInfo and VmExit.
#include "py_vm.h"

#include "firerun/image.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <thread>

namespace firerun::python {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

thread_local bool t_in_callback = false;

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

double seconds(milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

// Output callbacks run on the runtime thread while the caller of exec() waits
// with the GIL released. A raising callback is not called again; its
// exception is re-raised by exec() once the program has finished.
struct StreamCallbacks {
  py::object on_stdout;
  py::object on_stderr;
  std::optional<py::error_already_set> error;

  void deliver(const py::object& callback, std::string_view chunk) {
    // Taking the GIL while the interpreter shuts down would end this thread.
    if (interpreter_finalizing()) return;
    py::gil_scoped_acquire acquire;
    if (error) return;
    CallbackScope scope;
    try {
      callback(py::bytes(chunk.data(), chunk.size()));
    } catch (py::error_already_set& e) {
      error.emplace(std::move(e));
    }
  }
};

ExecRequest make_request(const std::vector<std::string>& argv, const py::object& stdin_data,
                         const std::map<std::string, std::string>& env, const std::string& cwd,
                         const py::object& timeout, std::uint32_t uid, std::uint32_t gid, std::uint64_t output_cap) {
  ExecRequest req;
  if (argv.empty()) throw_invalid("argv must not be empty");
  req.argv = argv;
  req.env = env;
  req.cwd = cwd;
  if (!stdin_data.is_none()) req.stdin_data = bytes_arg(stdin_data, "stdin");
  req.timeout = seconds_arg(timeout, "timeout", true).value_or(milliseconds(0));
  req.uid = uid;
  req.gid = gid;
  req.output_cap = output_cap;
  return req;
}

std::unique_ptr<PyVm> make_vm(const std::optional<fs::path>& kernel, const std::optional<fs::path>& initrd,
                              const std::string& cmdline, const std::optional<image::Image>& image,
                              std::uint64_t memory_mib, unsigned vcpus, const std::string& name, bool network,
                              const py::object& boot_timeout, std::uint64_t console_log_cap,
                              const std::string& backend, std::shared_ptr<blocking::Runtime> runtime) {
  VmSpec spec = image ? image::vm_spec(*image) : VmSpec{};
  if (kernel) spec.kernel = *kernel;
  if (initrd) spec.initrd = *initrd;
  if (!cmdline.empty()) spec.kernel_cmdline += (spec.kernel_cmdline.empty() ? "" : " ") + cmdline;
  spec.memory_mib = memory_mib;
  spec.vcpus = vcpus;
  spec.name = name;
  spec.network = network;
  spec.boot_timeout = *seconds_arg(boot_timeout, "boot_timeout", false);
  spec.console_log_cap = console_log_cap;
  if (!runtime) runtime = default_runtime();
  std::unique_ptr<blocking::Vm> vm;
  {
    py::gil_scoped_release release;
    vm = unwrap(blocking::Vm::create(runtime, backend, std::move(spec)));
  }
  return std::make_unique<PyVm>(std::move(runtime), adopt_vm(std::move(vm)));
}

// Runs a blocking VM call with the GIL released.
template <class Fn>
auto blocking_call(const PyVm& self, Fn fn) {
  require_not_in_callback();
  auto vm = self.vm();
  py::gil_scoped_release release;
  return fn(*vm);
}

// Reads VM facts on the runtime thread (the only thread that mutates them).
template <class Fn>
auto read_on_runtime(const PyVm& self, Fn fn) {
  require_not_in_callback();
  auto vm = self.vm();
  py::gil_scoped_release release;
  return on_runtime(*self.runtime(), [&] { return fn(*vm); });
}

void leave_context(PyVm& self, const py::object& grace) {
  if (self.closed()) return;
  auto state = read_on_runtime(self, [](blocking::Vm& vm) { return vm.state(); });
  if (state == VmState::created || state == VmState::stopped || state == VmState::failed) return;
  auto grace_ms = *seconds_arg(grace, "grace", false);
  Status stopped = blocking_call(self, [&](blocking::Vm& vm) { return vm.stop(grace_ms); });
  // Whatever stop() said, nothing may outlive the with-block.
  if (!stopped) blocking_call(self, [](blocking::Vm& vm) { return vm.kill(); });
}

}  // namespace

void require_not_in_callback() {
  if (t_in_callback)
    throw Exception(Error(Errc::bad_state, "firerun calls are not allowed inside an output callback"));
}

CallbackScope::CallbackScope() { t_in_callback = true; }
CallbackScope::~CallbackScope() { t_in_callback = false; }

std::shared_ptr<blocking::Vm> adopt_vm(std::unique_ptr<blocking::Vm> vm) {
  return std::shared_ptr<blocking::Vm>(vm.release(), [](blocking::Vm* p) {
    // Dropped inside an output callback, i.e. on the runtime thread, which
    // the teardown has to wait for: let another thread wait.
    if (t_in_callback) {
      std::thread([p] { delete p; }).detach();
      return;
    }
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      delete p;
    } else {
      delete p;
    }
  });
}

std::shared_ptr<blocking::Vm> PyVm::vm() const {
  if (!vm_) throw Exception(Error(Errc::bad_state, "the VM is closed"));
  return vm_;
}

void PyVm::close() {
  require_not_in_callback();
  vm_.reset();  // the deleter releases the GIL; destroying the VM kills its VMM
}

void bind_vm(py::module_& m) {
  py::class_<ExecResult>(m, "ExecResult", "Outcome of Vm.exec: exit status and captured output.")
      .def_readonly("exit_code", &ExecResult::exit_code, "Exit status, or None if killed by a signal.")
      .def_readonly("signal", &ExecResult::signal, "Signal that killed the program, or None.")
      .def_readonly("timed_out", &ExecResult::timed_out)
      .def_readonly("stdout_truncated", &ExecResult::stdout_truncated)
      .def_readonly("stderr_truncated", &ExecResult::stderr_truncated)
      .def_property_readonly("truncated", [](const ExecResult& r) { return r.stdout_truncated || r.stderr_truncated; })
      .def_property_readonly("stdout", [](const ExecResult& r) { return py::bytes(r.stdout_data); })
      .def_property_readonly("stderr", [](const ExecResult& r) { return py::bytes(r.stderr_data); })
      .def_property_readonly("duration", [](const ExecResult& r) { return seconds(r.duration); }, "Seconds.")
      .def_property_readonly(
          "ok", [](const ExecResult& r) { return r.exit_code == 0 && !r.timed_out; },
          "True when the program exited with status 0 in time.")
      .def("__repr__", [](const ExecResult& r) {
        std::string status = r.timed_out     ? "timed_out"
                             : r.exit_code   ? "exit_code=" + std::to_string(*r.exit_code)
                             : r.signal      ? "signal=" + std::to_string(*r.signal)
                                             : "unknown";
        return "<firerun.ExecResult " + status + " stdout=" + std::to_string(r.stdout_data.size()) +
               "B stderr=" + std::to_string(r.stderr_data.size()) + "B>";
      });

  py::class_<VmInfo>(m, "VmInfo", "Facts about a started VM.")
      .def_readonly("backend", &VmInfo::backend)
      .def_readonly("accelerator", &VmInfo::accelerator, "'kvm' or 'tcg'.")
      .def_readonly("accel_reason", &VmInfo::accel_reason)
      .def_readonly("vmm_pid", &VmInfo::vmm_pid)
      .def_property_readonly("boot_time", [](const VmInfo& i) { return seconds(i.boot_time); }, "Seconds, host side.")
      .def_property_readonly("guest_boot_time", [](const VmInfo& i) { return seconds(i.guest_boot_time); })
      .def_readonly("restored", &VmInfo::restored)
      .def("__repr__", [](const VmInfo& i) {
        return "<firerun.VmInfo " + i.backend + "/" + i.accelerator + " pid=" + std::to_string(i.vmm_pid) + ">";
      });

  py::class_<VmExit>(m, "VmExit", "How a VM ended.")
      .def_property_readonly("reason", [](const VmExit& e) { return std::string(to_string(e.reason)); })
      .def_readonly("detail", &VmExit::detail)
      .def("__repr__", [](const VmExit& e) { return std::string("<firerun.VmExit ") + to_string(e.reason) + ">"; });

  py::class_<PyVm> vm(m, "Vm",
                      "A microVM. Use as a context manager: entering starts it, leaving stops it\n"
                      "(and kills it if a graceful stop fails).");
  vm.def(py::init(&make_vm), py::arg("kernel") = py::none(), py::arg("initrd") = py::none(),
         py::arg("cmdline") = "", py::kw_only(), py::arg("image") = py::none(), py::arg("memory_mib") = 256,
         py::arg("vcpus") = 1, py::arg("name") = "", py::arg("network") = false, py::arg("boot_timeout") = 120.0,
         py::arg("console_log_cap") = 1u << 20, py::arg("backend") = "qemu", py::arg("runtime") = py::none(),
         "Prepares (does not boot) a VM. `image` supplies kernel, initrd and cmdline; `cmdline` is\n"
         "appended to the image's. Raises InvalidArgument for a bad spec.")
      .def("start", [](PyVm& self) { blocking_call(self, [](blocking::Vm& v) { return unwrap(v.start()); }); },
           "Boots and waits until the guest agent is ready.")
      .def(
          "stop",
          [](PyVm& self, const py::object& grace) {
            auto grace_ms = *seconds_arg(grace, "grace", false);
            blocking_call(self, [&](blocking::Vm& v) { return unwrap(v.stop(grace_ms)); });
          },
          py::arg("grace") = 10.0, "Graceful shutdown, forced after `grace` seconds.")
      .def("kill", [](PyVm& self) { blocking_call(self, [](blocking::Vm& v) { return unwrap(v.kill()); }); })
      .def("wait", [](PyVm& self) { return blocking_call(self, [](blocking::Vm& v) { return unwrap(v.wait()); }); },
           "Waits until the VM has ended; returns a VmExit.")
      .def("pause", [](PyVm& self) { blocking_call(self, [](blocking::Vm& v) { return unwrap(v.pause()); }); })
      .def("resume", [](PyVm& self) { blocking_call(self, [](blocking::Vm& v) { return unwrap(v.resume()); }); })
      .def(
          "exec",
          [](PyVm& self, const std::vector<std::string>& argv, const py::object& stdin_data,
             const std::map<std::string, std::string>& env, const std::string& cwd, const py::object& timeout,
             std::uint32_t uid, std::uint32_t gid, std::uint64_t output_cap, const py::object& on_stdout,
             const py::object& on_stderr) {
            ExecRequest req = make_request(argv, stdin_data, env, cwd, timeout, uid, gid, output_cap);
            StreamCallbacks callbacks{on_stdout, on_stderr, std::nullopt};
            OutputSink sink;
            if (!on_stdout.is_none())
              sink.on_stdout = [&callbacks](std::string_view c) { callbacks.deliver(callbacks.on_stdout, c); };
            if (!on_stderr.is_none())
              sink.on_stderr = [&callbacks](std::string_view c) { callbacks.deliver(callbacks.on_stderr, c); };
            const bool streaming = sink.on_stdout || sink.on_stderr;
            auto result = blocking_call(self, [&](blocking::Vm& v) { return v.exec(req, streaming ? &sink : nullptr); });
            if (callbacks.error) throw std::move(*callbacks.error);
            return unwrap(std::move(result));
          },
          py::arg("argv"), py::kw_only(), py::arg("stdin") = py::none(),
          py::arg("env") = std::map<std::string, std::string>{}, py::arg("cwd") = "/", py::arg("timeout") = py::none(),
          py::arg("uid") = kGuestUserId, py::arg("gid") = kGuestUserId, py::arg("output_cap") = kDefaultOutputCap,
          py::arg("on_stdout") = py::none(), py::arg("on_stderr") = py::none(),
          "Runs argv in the guest and waits for it. `stdin` (bytes/str) is sent then closed;\n"
          "`timeout` in seconds (None = no limit) kills the program and sets timed_out.\n"
          "`on_stdout`/`on_stderr(chunk: bytes)` receive output as it arrives, on the runtime thread;\n"
          "output is still collected in the result.")
      .def(
          "write_file",
          [](PyVm& self, const std::string& path, const py::object& data, unsigned mode) {
            std::string bytes = bytes_arg(data, "data");
            blocking_call(self, [&](blocking::Vm& v) { return unwrap(v.write_file(path, bytes, mode)); });
          },
          py::arg("path"), py::arg("data"), py::arg("mode") = 0644)
      .def(
          "read_file",
          [](PyVm& self, const std::string& path, std::uint64_t max_bytes) {
            auto data = blocking_call(self, [&](blocking::Vm& v) { return unwrap(v.read_file(path, max_bytes)); });
            return py::bytes(data);
          },
          py::arg("path"), py::arg("max_bytes") = std::uint64_t{16u << 20})
      .def("close", &PyVm::close, "Kills the VMM if running and frees the VM; later calls raise BadState.")
      .def_property_readonly("closed", &PyVm::closed)
      .def_property_readonly("id", [](const PyVm& self) {
        return read_on_runtime(self, [](blocking::Vm& v) { return v.id(); });
      })
      .def_property_readonly(
          "state",
          [](const PyVm& self) {
            return std::string(to_string(read_on_runtime(self, [](blocking::Vm& v) { return v.state(); })));
          },
          "'created', 'starting', 'running', 'paused', 'stopping', 'stopped' or 'failed'.")
      .def_property_readonly("info", [](const PyVm& self) {
        return read_on_runtime(self, [](blocking::Vm& v) { return v.info(); });
      })
      .def_property_readonly(
          "console_log",
          [](const PyVm& self) {
            return lossy_str(read_on_runtime(self, [](blocking::Vm& v) { return v.console_log(); }));
          },
          "The tail of the guest console output.")
      .def_property_readonly("runtime", &PyVm::runtime)
      .def("__enter__",
           [](py::object self_object) {
             auto& self = self_object.cast<PyVm&>();
             auto state = read_on_runtime(self, [](blocking::Vm& v) { return v.state(); });
             if (state == VmState::created) blocking_call(self, [](blocking::Vm& v) { return unwrap(v.start()); });
             return self_object;
           })
      .def(
          "__exit__",
          [](PyVm& self, const py::object&, const py::object&, const py::object&) { leave_context(self, py::float_(10.0)); },
          py::arg("exc_type"), py::arg("exc"), py::arg("tb"))
      .def("__repr__", [](const PyVm& self) {
        if (self.closed()) return std::string("<firerun.Vm closed>");
        auto [id, state] = read_on_runtime(self, [](blocking::Vm& v) { return std::pair(v.id(), v.state()); });
        return "<firerun.Vm " + id + " " + to_string(state) + ">";
      });
  add_sandbox_methods(vm);
}

}  // namespace firerun::python
