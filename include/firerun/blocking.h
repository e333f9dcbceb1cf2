// Simple synchronous facade over the async core, for scripts, tools and the
// Python bindings. A Runtime owns an io_context and one thread that runs it;
// every call blocks the caller until the operation completes.
#pragma once

#include "firerun/vm.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <memory>
#include <thread>

namespace firerun::blocking {

class Runtime {
 public:
  Runtime();
  ~Runtime();  ///< stops the loop and joins the thread
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }

  /// Runs an awaitable on the runtime's thread and waits for its result.
  template <class T>
  T run(Task<T> task) {
    return boost::asio::co_spawn(ctx_, std::move(task), boost::asio::use_future).get();
  }

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

/// A VM driven synchronously. Destroying it kills the VM if still running.
class Vm {
 public:
  /// Opens the backend named by `backend_uri` ("qemu", "qemu:///?accel=tcg") and prepares a VM.
  static Result<std::unique_ptr<Vm>> create(std::shared_ptr<Runtime> runtime, std::string_view backend_uri,
                                            VmSpec spec);
  ~Vm();

  Status start();
  Status stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  Status kill();
  Result<VmExit> wait();
  Status pause();
  Status resume();
  Result<ExecResult> exec(const ExecRequest& request, const OutputSink* sink = nullptr);
  Status write_file(const std::string& guest_path, const std::string& data, unsigned mode = 0644);
  Result<std::string> read_file(const std::string& guest_path, std::uint64_t max_bytes = 16u << 20);

  VmState state() const;
  VmInfo info() const;
  std::string console_log() const;
  const std::string& id() const;
  /// The async VM underneath; use it only on the runtime's thread (e.g. inside Runtime::run).
  firerun::Vm& async_vm() noexcept { return *vm_; }

 private:
  Vm(std::shared_ptr<Runtime> runtime, std::unique_ptr<firerun::Vm> vm);
  std::shared_ptr<Runtime> runtime_;
  std::unique_ptr<firerun::Vm> vm_;
};

}  // namespace firerun::blocking
