// Host work that blocks (fork/exec and wait of ip/nft, getaddrinfo, cgroup
// and namespace setup, cloning the VMM, HTTP calls to CI APIs) runs on a
// thread pool instead of an io thread, so one slow call does not stall every
// connection and timer of the process.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <utility>

namespace firerun::detail {

/// The process-wide pool for jail and VMM setup. One thread: that work was
/// serialised on the io thread before, and parts of it (the host's nft table,
/// the orphan sweep) assume it still is. The thread lives until exit, so
/// children spawned from it with PR_SET_PDEATHSIG die with the process.
boost::asio::thread_pool& offload_pool();

/// Runs fn() on `pool` and resumes the caller on its own executor with the
/// result (exceptions propagate). `fn` is copied when the task starts, that is
/// within the caller's co_await; what it captures by reference must outlive
/// that. (Parameters are references: GCC 12 mis-copies class-type temporaries
/// bound to coroutine parameters.)
template <class F>
auto offload(boost::asio::thread_pool& pool, const F& fn) -> boost::asio::awaitable<decltype(fn())> {
  using R = decltype(fn());
  // co_spawn needs a default-constructible result; R (a Result<T>) may not be.
  auto task = [fn]() -> boost::asio::awaitable<std::optional<R>> { co_return std::optional<R>(fn()); };
  auto out = co_await boost::asio::co_spawn(pool, std::move(task), boost::asio::use_awaitable);
  co_return std::move(*out);
}

/// offload() on offload_pool().
template <class F>
auto offload(const F& fn) -> boost::asio::awaitable<decltype(fn())> {
  return offload(offload_pool(), fn);
}

}  // namespace firerun::detail
