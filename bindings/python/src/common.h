// Shared helpers of the Python bindings: turning Results into Python
// exceptions, argument conversions, and running work on a Runtime's thread
// without holding the GIL.
#pragma once

#include "firerun/blocking.h"
#include "firerun/error.h"

#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <pybind11/pybind11.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace firerun::python {

namespace py = pybind11;

/// Throws the error of a failed Result as firerun::Exception (translated to firerun.Error subclasses).
template <class T>
T unwrap(Result<T>&& r) {
  if (!r) throw Exception(std::move(r).error());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

/// Raises firerun.InvalidArgument with `message`.
[[noreturn]] void throw_invalid(std::string message);

/// Seconds (int/float, or None when `allow_none`) → milliseconds; rejects negative, NaN and huge values.
std::optional<std::chrono::milliseconds> seconds_arg(const py::object& value, const char* field, bool allow_none);

/// bytes, bytearray, memoryview or str (UTF-8 encoded) → bytes as std::string.
std::string bytes_arg(const py::handle& value, const char* field);

/// Decodes text that may not be valid UTF-8 (console output), replacing bad bytes.
py::str lossy_str(const std::string& text);

/// The process-wide Runtime, created on first use.
std::shared_ptr<blocking::Runtime> default_runtime();

/// Runs `fn` on the runtime's thread and returns its result; the GIL must be
/// released by the caller (the runtime thread may be waiting for it).
template <class Fn>
auto on_runtime(blocking::Runtime& runtime, Fn fn) {
  return boost::asio::post(runtime.executor(), boost::asio::use_future(std::move(fn))).get();
}

void bind_errors(py::module_& m);
void bind_runtime(py::module_& m);
void bind_images(py::module_& m);
void bind_vm(py::module_& m);
void bind_sandbox(py::module_& m);

}  // namespace firerun::python
