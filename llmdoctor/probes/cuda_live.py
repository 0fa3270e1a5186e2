"""Live CUDA facts from the driver API (libcuda through ctypes): what ``torch.cuda`` would enumerate.

Used on a torch-cache hit instead of importing torch: ``cuInit``, ``cuDriverGetVersion``,
``cuDeviceGetCount``, ``cuDeviceGetName`` and the compute-capability attributes are the calls
torch's CUDA runtime makes under ``torch.cuda.device_count()`` / ``get_device_name`` /
``get_device_capability``; CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER apply the same way.
Never raises: an error is returned as ``{"error": ...}``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

_ATTR_CC_MAJOR = 75  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR (cuda.h)
_ATTR_CC_MINOR = 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR


def _library() -> Any:
    name = os.environ.get("LLMDOCTOR_LIBCUDA") or "libcuda.so.1"
    return ctypes.CDLL(name)


def read_live() -> dict[str, Any]:
    try:
        lib = _library()
    except OSError as exc:
        return {"error": f"libcuda could not be loaded: {exc}"}
    try:
        return _read(lib)
    except Exception as exc:  # a broken driver library is data
        return {"error": f"{type(exc).__name__}: {exc}"}


def _read(lib: Any) -> dict[str, Any]:
    rc = lib.cuInit(0)
    if rc != 0:
        return {"error": f"cuInit failed with CUDA error {rc}", "code": rc}
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDriverGetVersion(ctypes.byref(version))
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0:
        return {"error": f"cuDeviceGetCount failed with CUDA error {rc}", "code": rc}
    devices = [_device(lib, i) for i in range(count.value)]
    return {"driver_cuda": version.value, "devices": devices}


def _device(lib: Any, index: int) -> dict[str, Any]:
    handle, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGet(ctypes.byref(handle), index)
    lib.cuDeviceGetName(name, 256, handle)
    lib.cuDeviceGetAttribute(ctypes.byref(major), _ATTR_CC_MAJOR, handle)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _ATTR_CC_MINOR, handle)
    return {"index": index, "name": name.value.decode("utf-8", "replace"), "capability": f"{major.value}.{minor.value}"}
