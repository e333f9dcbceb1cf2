#include "firerun/error.h"

namespace firerun {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "firerun"; }
  std::string message(int ev) const override { return errc_name(static_cast<Errc>(ev)); }
};

}  // namespace

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::unsupported: return "unsupported";
    case Errc::timeout: return "timeout";
    case Errc::cancelled: return "cancelled";
    case Errc::backend_failed: return "backend_failed";
    case Errc::guest_failed: return "guest_failed";
    case Errc::io: return "io";
    case Errc::protocol: return "protocol";
    case Errc::auth: return "auth";
    case Errc::limit_exceeded: return "limit_exceeded";
    case Errc::already_exists: return "already_exists";
    case Errc::bad_state: return "bad_state";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

const boost::system::error_category& firerun_category() noexcept {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), firerun_category()};
}

Error::Error(Errc code, std::string message) : code_(make_error_code(code)), message_(std::move(message)) {}

Error::Error(boost::system::error_code code, std::string message) : code_(code), message_(std::move(message)) {}

Errc Error::errc() const noexcept {
  if (code_.category() == firerun_category()) return static_cast<Errc>(code_.value());
  if (code_ == boost::system::errc::timed_out) return Errc::timeout;
  if (code_ == boost::system::errc::operation_canceled) return Errc::cancelled;
  return code_ ? Errc::io : Errc::ok;
}

Error& Error::with_context(std::string what) & {
  context_.push_back(std::move(what));
  return *this;
}

Error&& Error::with_context(std::string what) && {
  context_.push_back(std::move(what));
  return std::move(*this);
}

std::string Error::what() const {
  std::string out;
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  out += message_;
  out += " [";
  out += code_.category() == firerun_category() ? errc_name(errc()) : code_.message();
  out += "]";
  return out;
}

Exception::Exception(Error error) : std::runtime_error(error.what()), error_(std::move(error)) {}

void throw_exception_from_error(const Error& e, const boost::source_location&) { throw Exception(e); }

}  // namespace firerun
