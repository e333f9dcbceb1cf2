#include "firerun/blocking.h"

#include <boost/asio/post.hpp>

#include <future>

namespace firerun::blocking {

Runtime::Runtime() : guard_(ctx_.get_executor()), thread_([this] { ctx_.run(); }) {}

Runtime::~Runtime() {
  guard_.reset();
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<Vm>> Vm::create(std::shared_ptr<Runtime> runtime, std::string_view backend_uri, VmSpec spec) {
  FIRERUN_TRY(auto backend, open_vm_backend(backend_uri, runtime->executor()));
  FIRERUN_TRY(auto vm, backend->create(std::move(spec)));
  return std::unique_ptr<Vm>(new Vm(std::move(runtime), std::move(vm)));
}

Vm::Vm(std::shared_ptr<Runtime> runtime, std::unique_ptr<firerun::Vm> vm)
    : runtime_(std::move(runtime)), vm_(std::move(vm)) {}

Vm::~Vm() {
  // The VM's objects belong to the runtime's thread: destroy them there.
  std::promise<void> done;
  boost::asio::post(runtime_->executor(), [&] {
    vm_.reset();
    done.set_value();
  });
  done.get_future().wait();
}

Status Vm::start() { return runtime_->run(vm_->start()); }
Status Vm::stop(std::chrono::milliseconds grace) { return runtime_->run(vm_->stop(grace)); }
Status Vm::kill() { return runtime_->run(vm_->kill()); }
Result<VmExit> Vm::wait() { return runtime_->run(vm_->wait()); }
Status Vm::pause() { return runtime_->run(vm_->pause()); }
Status Vm::resume() { return runtime_->run(vm_->resume()); }
// The caller blocks until the task finishes, so reference arguments stay alive.
Result<ExecResult> Vm::exec(const ExecRequest& request, const OutputSink* sink) {
  return runtime_->run(vm_->exec(request, sink));
}
Status Vm::write_file(const std::string& guest_path, const std::string& data, unsigned mode) {
  return runtime_->run(vm_->write_file(guest_path, data, mode));
}
Result<std::string> Vm::read_file(const std::string& guest_path, std::uint64_t max_bytes) {
  return runtime_->run(vm_->read_file(guest_path, max_bytes));
}
VmState Vm::state() const { return vm_->state(); }
VmInfo Vm::info() const { return vm_->info(); }
std::string Vm::console_log() const { return vm_->console_log(); }
const std::string& Vm::id() const { return vm_->id(); }

}  // namespace firerun::blocking
