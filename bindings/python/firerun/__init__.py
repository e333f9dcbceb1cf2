"""firerun: run untrusted work in throwaway microVMs.

    import firerun
    img = firerun.find_image("python")
    with firerun.Vm(image=img, memory_mib=512) as vm:      # boots; stopped on exit
        r = vm.exec(["python3", "-c", "print(6*7)"], timeout=10)
        print(r.exit_code, r.stdout)                          # 0 b'42\\n'

Every call blocks the calling thread with the GIL released, so other Python
threads keep running. See docs/python.md for the whole API.
"""

import os as _os

from ._firerun import (  # noqa: F401  (re-exported API)
    __version__,
    # errors
    Error,
    InvalidArgument,
    NotFound,
    Unsupported,
    Timeout,
    Cancelled,
    BackendFailed,
    GuestFailed,
    HostIOError,
    ProtocolError,
    AuthError,
    LimitExceeded,
    AlreadyExists,
    BadState,
    InternalError,
    # runtime
    Runtime,
    default_runtime,
    # images
    Image,
    default_cache_root,
    find_image,
    build_image,
    recipes,
    # VMs
    Vm,
    VmInfo,
    VmExit,
    ExecResult,
    # languages
    Language,
    CodeResult,
    languages,
    find_language,
    run_code,
)
from . import _firerun

__all__ = [name for name in dir() if not name.startswith("_")]


def run(argv, *, image="bash", cache=None, memory_mib=256, **exec_options):
    """One-shot: boots a fresh VM from the cached `image` (name or Image), runs
    argv with Vm.exec(**exec_options) and destroys the VM; returns the ExecResult."""
    img = find_image(image, cache) if isinstance(image, str) else image
    with Vm(image=img, memory_mib=memory_mib) as vm:
        return vm.exec(argv, **exec_options)


__all__.append("run")

# A forked child has no runtime thread: give it a fresh default runtime.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_firerun._reset_runtime_after_fork)
