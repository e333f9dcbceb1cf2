// Helpers for integration tests that boot real VMs: image lookup, running a
// coroutine test body on a private io_context, and unwrapping Results.
#pragma once

#include "firerun/image.h"
#include "firerun/vm.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

namespace firerun::testing {

/// The test image cache prepared by the `images` ctest fixture.
inline std::filesystem::path test_cache() {
  const char* dir = std::getenv("FIRERUN_TEST_CACHE");
  return dir ? dir : image::default_cache_root();
}

/// Unwraps a Result inside a coroutine test body; failures throw (gtest reports them).
/// Takes the Result by value: GCC 12 mishandles co_await results bound to references.
template <class R>
auto must(R r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().what());
  if constexpr (!std::is_void_v<typename std::decay_t<R>::value_type>) return std::move(*r);
}

/// ASSERT_* cannot `return` from a coroutine: record the failure and throw instead.
#define FIRERUN_CO_ASSERT(cond)                                                \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ADD_FAILURE() << "assertion failed: " #cond;                             \
      throw std::runtime_error("assertion failed: " #cond);                    \
    }                                                                          \
  } while (0)

// Requests are built outside co_await expressions: GCC 12 mishandles braced
// temporaries there.
inline ExecRequest cmd(std::vector<std::string> argv) {
  ExecRequest r;
  r.argv = std::move(argv);
  return r;
}
inline ExecRequest sh(std::string script) { return cmd({"/bin/sh", "-c", std::move(script)}); }

/// A VmSpec for a cached image, small by default.
inline VmSpec spec_for(const std::string& image_name, std::uint64_t memory_mib = 256) {
  auto img = image::find_image(image_name, test_cache());
  if (!img) throw std::runtime_error("image '" + image_name + "' is not built: " + img.error().what());
  VmSpec spec = image::vm_spec(*img);
  spec.memory_mib = memory_mib;
  spec.boot_timeout = std::chrono::seconds(90);
  return spec;
}

/// Runs `body(executor)` to completion on a fresh io_context (bounded in time).
template <class Body>
void run_async(Body body, std::chrono::seconds limit = std::chrono::seconds(240)) {
  boost::asio::io_context ctx;
  bool done = false;
  std::exception_ptr error;
  boost::asio::co_spawn(ctx, body(ctx.get_executor()), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  ctx.run_for(limit);
  ASSERT_TRUE(done) << "test body did not finish within " << limit.count() << " s";
  if (error) std::rethrow_exception(error);
}

/// Opens the QEMU backend (accelerator chosen automatically unless FIRERUN_TEST_ACCEL is set).
inline std::shared_ptr<VmBackend> qemu_backend(boost::asio::any_io_executor ex) {
  std::string uri = "qemu";
  if (const char* accel = std::getenv("FIRERUN_TEST_ACCEL")) uri = std::string("qemu:///?accel=") + accel;
  auto backend = open_vm_backend(uri, std::move(ex));
  if (!backend) throw std::runtime_error(backend.error().what());
  return *backend;
}

}  // namespace firerun::testing
