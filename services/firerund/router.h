// A route table: (method, path pattern) → handler. Patterns are literal
// segments plus "{name}" placeholders matching one non-empty segment.
#pragma once

#include <boost/beast/http/verb.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::daemon {

using PathParams = std::map<std::string, std::string>;

template <class Handler>
class Router {
 public:
  /// Outcome of a lookup: a handler, "path exists with other methods" (405), or nothing (404).
  struct Match {
    const Handler* handler = nullptr;
    PathParams params;
    std::vector<boost::beast::http::verb> allowed;  ///< non-empty when only the method was wrong
  };

  void add(boost::beast::http::verb method, std::string pattern, Handler handler) {
    routes_.push_back(Route{method, split(pattern), std::move(pattern), std::move(handler)});
  }

  Match match(boost::beast::http::verb method, std::string_view target) const {
    auto query = target.find('?');
    auto segments = split(target.substr(0, query));
    Match out;
    for (const auto& route : routes_) {
      PathParams params;
      if (!matches(route.segments, segments, params)) continue;
      if (route.method != method) {
        out.allowed.push_back(route.method);
        continue;
      }
      out.handler = &route.handler;
      out.params = std::move(params);
      out.allowed.clear();
      return out;
    }
    return out;
  }

  /// Every (method, pattern) pair, in registration order.
  std::vector<std::pair<boost::beast::http::verb, std::string>> routes() const {
    std::vector<std::pair<boost::beast::http::verb, std::string>> out;
    for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
    return out;
  }

 private:
  struct Route {
    boost::beast::http::verb method;
    std::vector<std::string> segments;
    std::string pattern;
    Handler handler;
  };

  static std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
      if (path.front() == '/') {
        path.remove_prefix(1);
        continue;
      }
      auto slash = path.find('/');
      out.emplace_back(path.substr(0, slash));
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash);
    }
    return out;
  }

  static bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                      PathParams& params) {
    if (pattern.size() != path.size()) return false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      const auto& p = pattern[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params[p.substr(1, p.size() - 2)] = path[i];
      } else if (p != path[i]) {
        return false;
      }
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace firerun::daemon
