// The Python-facing VM object, shared by the VM and sandbox bindings.
#pragma once

#include "common.h"

#include <pybind11/pybind11.h>

#include <memory>

namespace firerun::python {

/// Owns a blocking::Vm. Every blocking call runs with the GIL released, and
/// the VM is always destroyed without holding the GIL: its teardown waits for
/// the runtime thread, which may itself be waiting for the GIL in an output
/// callback.
class PyVm {
 public:
  PyVm(std::shared_ptr<blocking::Runtime> runtime, std::shared_ptr<blocking::Vm> vm)
      : runtime_(std::move(runtime)), vm_(std::move(vm)) {}
  PyVm(const PyVm&) = delete;
  PyVm& operator=(const PyVm&) = delete;

  /// The VM, or BadState once closed. Call with the GIL held.
  std::shared_ptr<blocking::Vm> vm() const;
  const std::shared_ptr<blocking::Runtime>& runtime() const { return runtime_; }
  /// Kills the VMM (if still running) and frees the VM; idempotent.
  void close();
  bool closed() const { return !vm_; }

 private:
  std::shared_ptr<blocking::Runtime> runtime_;
  std::shared_ptr<blocking::Vm> vm_;
};

/// Wraps a freshly created blocking::Vm so that its destruction releases the GIL.
std::shared_ptr<blocking::Vm> adopt_vm(std::unique_ptr<blocking::Vm> vm);

/// Raises BadState when called from an output callback (it runs on the
/// runtime thread, which a blocking call would deadlock).
void require_not_in_callback();

/// Marks the current thread as running an output callback while alive.
class CallbackScope {
 public:
  CallbackScope();
  ~CallbackScope();
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

/// Adds Vm.run_code (defined with the sandbox bindings).
void add_sandbox_methods(py::class_<PyVm>& cls);

}  // namespace firerun::python
