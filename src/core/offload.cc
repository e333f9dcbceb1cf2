#include "core/offload.h"

namespace firerun::detail {

boost::asio::thread_pool& offload_pool() {
  static boost::asio::thread_pool pool(1);
  return pool;
}

}  // namespace firerun::detail
