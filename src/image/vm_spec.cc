#include "firerun/image.h"
#include "firerun/vm.h"

namespace firerun::image {

VmSpec vm_spec(const Image& image) { return vm_spec(image, VmSpec{}); }

VmSpec vm_spec(const Image& image, VmSpec base) {
  base.kernel = image.kernel;
  base.initrd = image.initrd;
  base.kernel_cmdline = image.cmdline;
  return base;
}

}  // namespace firerun::image
