// The _firerun extension module: exception hierarchy, Runtime, argument helpers.
#include "common.h"

#include "firerun/version.h"

#include <cmath>
#include <map>
#include <mutex>

namespace firerun::python {
namespace {

struct ErrorClass {
  Errc code;
  const char* name;
  PyObject* extra_base;  // a builtin exception the class also derives from, or null
  const char* doc;
};

// Owned for the life of the process (never decref'd: they may be needed while
// the interpreter shuts down).
PyObject* g_base_error = nullptr;
std::map<Errc, PyObject*>& error_classes() {
  static auto* classes = new std::map<Errc, PyObject*>;
  return *classes;
}

PyObject* class_for(Errc code) {
  auto it = error_classes().find(code);
  return it == error_classes().end() ? g_base_error : it->second;
}

// Builds the exception object: str(e) is Error::what(); .code, .message and
// .context carry the structured parts.
void raise_error(const Error& error) {
  PyObject* cls = class_for(error.errc());
  py::object instance = py::reinterpret_borrow<py::object>(cls)(error.what());
  instance.attr("code") = errc_name(error.errc());
  instance.attr("message") = error.message();
  py::list context;  // outermost first, as printed
  for (auto it = error.context().rbegin(); it != error.context().rend(); ++it) context.append(*it);
  instance.attr("context") = context;
  PyErr_SetObject(cls, instance.ptr());
}

PyObject* new_exception(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  std::string qualified = std::string("firerun.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!cls) throw py::error_already_set();
  m.attr(name) = py::reinterpret_borrow<py::object>(cls);
  return cls;  // the new reference is kept forever
}

std::mutex g_runtime_mutex;
std::shared_ptr<blocking::Runtime>* g_default_runtime = nullptr;  // leaked: see default_runtime()

}  // namespace

void throw_invalid(std::string message) { throw Exception(Error(Errc::invalid_argument, std::move(message))); }

std::optional<std::chrono::milliseconds> seconds_arg(const py::object& value, const char* field, bool allow_none) {
  if (value.is_none()) {
    if (allow_none) return std::nullopt;
    throw_invalid(std::string(field) + " must be a number of seconds, not None");
  }
  if (!py::isinstance<py::int_>(value) && !py::isinstance<py::float_>(value))
    throw py::type_error(std::string(field) + " must be a number of seconds");
  double seconds = value.cast<double>();
  // About 30 years: anything larger is a mistake and would overflow the clock arithmetic.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9)
    throw_invalid(std::string(field) + " must be a finite, non-negative number of seconds");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

std::string bytes_arg(const py::handle& value, const char* field) {
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::bytes>(value)) return std::string(py::reinterpret_borrow<py::bytes>(value));
  if (PyByteArray_Check(value.ptr()) || PyMemoryView_Check(value.ptr()))
    return std::string(py::bytes(py::reinterpret_steal<py::object>(PyBytes_FromObject(value.ptr()))));
  throw py::type_error(std::string(field) + " must be bytes or str");
}

py::str lossy_str(const std::string& text) {
  PyObject* s = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

std::shared_ptr<blocking::Runtime> default_runtime() {
  std::lock_guard lock(g_runtime_mutex);
  // Deliberately leaked: destroying it during C++ static destruction, after
  // the interpreter is gone, would run VM teardown against dead globals.
  // VMs die with the process anyway (their VMM has PDEATHSIG).
  if (!g_default_runtime) g_default_runtime = new std::shared_ptr<blocking::Runtime>;
  if (!*g_default_runtime) *g_default_runtime = std::make_shared<blocking::Runtime>();
  return *g_default_runtime;
}

void bind_errors(py::module_& m) {
  g_base_error = new_exception(m, "Error", py::make_tuple(py::reinterpret_borrow<py::object>(PyExc_Exception)),
                               "Base class of every firerun error; .code, .message and .context describe it.");
  py::object base = py::reinterpret_borrow<py::object>(g_base_error);
  const ErrorClass table[] = {
      {Errc::invalid_argument, "InvalidArgument", PyExc_ValueError, "Something supplied was malformed."},
      {Errc::not_found, "NotFound", PyExc_LookupError, "A named thing (image, backend, file) does not exist."},
      {Errc::unsupported, "Unsupported", nullptr, "The backend or operation is not available here."},
      {Errc::timeout, "Timeout", PyExc_TimeoutError, "A deadline passed."},
      {Errc::cancelled, "Cancelled", nullptr, "The operation was cancelled."},
      {Errc::backend_failed, "BackendFailed", nullptr, "The VMM (QEMU, ...) failed or died."},
      {Errc::guest_failed, "GuestFailed", nullptr, "The guest crashed, panicked or its agent misbehaved."},
      {Errc::io, "HostIOError", PyExc_OSError, "A filesystem, socket or process failure on the host."},
      {Errc::protocol, "ProtocolError", nullptr, "A peer spoke the wire protocol wrongly."},
      {Errc::auth, "AuthError", nullptr, "Authentication or signature failure."},
      {Errc::limit_exceeded, "LimitExceeded", nullptr, "A configured cap was hit."},
      {Errc::already_exists, "AlreadyExists", nullptr, "Duplicate registration or name."},
      {Errc::bad_state, "BadState", nullptr, "The operation is illegal in the VM's current state."},
      {Errc::internal, "InternalError", nullptr, "A bug in firerun."},
  };
  for (const auto& c : table) {
    py::tuple bases = c.extra_base ? py::make_tuple(base, py::reinterpret_borrow<py::object>(c.extra_base))
                                   : py::make_tuple(base);
    error_classes()[c.code] = new_exception(m, c.name, bases, c.doc);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Exception& e) {
      raise_error(e.error());
    }
  });
  // For tests and callers that want to construct the exception for an Error code by name.
  m.def("_raise_error", [](const std::string& code, const std::string& message) {
    for (int i = 0; i <= static_cast<int>(Errc::internal); ++i)
      if (code == errc_name(static_cast<Errc>(i))) throw Exception(Error(static_cast<Errc>(i), message));
    throw_invalid("unknown error code '" + code + "'");
  });
}

void bind_runtime(py::module_& m) {
  py::class_<blocking::Runtime, std::shared_ptr<blocking::Runtime>>(
      m, "Runtime",
      "An event loop on its own thread that drives VMs. One shared runtime is created lazily;\n"
      "create more to isolate groups of VMs (output callbacks of one runtime run one at a time).")
      .def(py::init<>());
  m.def("default_runtime", &default_runtime, "The process-wide Runtime, created on first use.");
  m.def("_reset_runtime_after_fork", [] {
    std::lock_guard lock(g_runtime_mutex);
    // The child has no runtime thread: forget (leak) the parent's runtime, it cannot be joined here.
    if (g_default_runtime) g_default_runtime = new std::shared_ptr<blocking::Runtime>;
  });
}

}  // namespace firerun::python

PYBIND11_MODULE(_firerun, m) {
  using namespace firerun::python;
  m.doc() = "firerun: run untrusted work in throwaway microVMs (native part)";
  m.attr("__version__") = FIRERUN_VERSION_STRING;
  bind_errors(m);
  bind_runtime(m);
  bind_images(m);
  bind_vm(m);
  bind_sandbox(m);
}
