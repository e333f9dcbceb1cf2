// One error style for all of firerun: Result<T> values carrying an Error.
//
// Expected failures (bad spec, guest crash, timeout, malformed input) are
// values, never exceptions. Facades (blocking API, CLI, Python) turn them into
// firerun::Exception at the boundary via Result::value().
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace firerun {

/// Library-wide error conditions. Stable numbers: the CLI maps them to exit codes.
enum class Errc {
  ok = 0,
  invalid_argument = 1,  ///< caller supplied something malformed (spec, frame, config)
  not_found = 2,         ///< named thing (backend, image, file) does not exist
  unsupported = 3,       ///< backend/operation not available here
  timeout = 4,           ///< a deadline passed
  cancelled = 5,         ///< the operation was cancelled
  backend_failed = 6,    ///< the VMM (QEMU, ...) failed or died
  guest_failed = 7,      ///< the guest crashed, panicked or its agent misbehaved
  io = 8,                ///< filesystem / socket / process failure on the host
  protocol = 9,          ///< a peer spoke the wire protocol wrongly
  auth = 10,             ///< authentication or signature failure
  limit_exceeded = 11,   ///< a configured cap was hit
  already_exists = 12,   ///< duplicate registration / name
  bad_state = 13,        ///< operation illegal in the current lifecycle state
  internal = 14,         ///< a bug in firerun
};

}  // namespace firerun

namespace boost::system {
template <>
struct is_error_code_enum<firerun::Errc> : std::true_type {};
}  // namespace boost::system

namespace firerun {

const boost::system::error_category& firerun_category() noexcept;
boost::system::error_code make_error_code(Errc e) noexcept;

/// Short stable name of an Errc ("invalid_argument", ...).
const char* errc_name(Errc e) noexcept;

/// An error code plus a human-readable message and a chain of context lines
/// added while the error propagates outwards. Never put secrets in messages.
class Error {
 public:
  Error() = default;
  Error(Errc code, std::string message);
  Error(boost::system::error_code code, std::string message);

  const boost::system::error_code& code() const noexcept { return code_; }
  /// The firerun condition this error maps to (io for foreign codes).
  Errc errc() const noexcept;
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::string>& context() const noexcept { return context_; }

  /// Adds an outer context line ("starting VM vm-1"); returns *this for chaining.
  Error& with_context(std::string what) &;
  Error&& with_context(std::string what) &&;

  /// "outer: inner: message [errc]" — what users see.
  std::string what() const;

  friend bool operator==(const Error& e, Errc c) noexcept { return e.errc() == c; }

 private:
  boost::system::error_code code_;
  std::string message_;
  std::vector<std::string> context_;  // innermost first
};

/// Thrown only by facades (Result::value(), blocking API, bindings).
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error);
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

template <class T>
using Result = boost::system::result<T, Error>;
using Status = Result<void>;

/// Convenience: an Error as an unexpected Result value.
inline Error make_error(Errc code, std::string message) { return Error(code, std::move(message)); }

/// Wraps the error of a failed Result with an outer context line; passes values through.
template <class T>
Result<T> add_context(Result<T>&& r, std::string what) {
  if (r) return std::move(r);
  return std::move(r).error().with_context(std::move(what));
}

/// Found by boost::system::result::value() through ADL.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

}  // namespace firerun


#define FIRERUN_CONCAT_INNER(a, b) a##b
#define FIRERUN_CONCAT(a, b) FIRERUN_CONCAT_INNER(a, b)

/// FIRERUN_TRY(auto x, expr): evaluates a Result; returns its error from the
/// enclosing function, otherwise binds the value.
#define FIRERUN_TRY(lhs, expr) FIRERUN_TRY_IMPL(FIRERUN_CONCAT(firerun_try_, __LINE__), lhs, expr, return)
/// Same inside coroutines.
#define FIRERUN_CO_TRY(lhs, expr) FIRERUN_TRY_IMPL(FIRERUN_CONCAT(firerun_try_, __LINE__), lhs, expr, co_return)
#define FIRERUN_TRY_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                          \
  if (!tmp) ret std::move(tmp).error();       \
  lhs = std::move(*tmp)

/// FIRERUN_CHECK(status_expr): returns the error of a Status if it failed.
#define FIRERUN_CHECK(expr) FIRERUN_CHECK_IMPL(FIRERUN_CONCAT(firerun_chk_, __LINE__), expr, return)
#define FIRERUN_CO_CHECK(expr) FIRERUN_CHECK_IMPL(FIRERUN_CONCAT(firerun_chk_, __LINE__), expr, co_return)
#define FIRERUN_CHECK_IMPL(tmp, expr, ret) \
  do {                                     \
    auto tmp = (expr);                     \
    if (!tmp) ret std::move(tmp).error();  \
  } while (0)
