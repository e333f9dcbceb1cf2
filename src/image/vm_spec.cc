#include "firerun/image.h"
#include "firerun/vm.h"

namespace firerun::image {

VmSpec vm_spec(const Image& image) {
  VmSpec spec;
  spec.kernel = image.kernel;
  spec.initrd = image.initrd;
  spec.kernel_cmdline = image.cmdline;
  return spec;
}

}  // namespace firerun::image
