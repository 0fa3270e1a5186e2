"""A cache of torch's build facts, so that a warm ``llmdoctor check`` does not pay ``import torch``.

What torch is (version, CUDA, cuDNN, NCCL, compiled arch list, build flags, the libraries it maps, the
GPU extensions' import results) does not change until a package is installed, removed or reinstalled.
Live facts (CUDA availability, the devices) always come from the machine: on a hit they are read from
the CUDA driver directly (``cuda_live``); when the driver cannot confirm what torch would see, the full
torch probe runs instead, so a warm run never reports less than a cold one.

How the cache is keyed, kept and invalidated: ``llmdoctor.cache``.
"""

from __future__ import annotations

import os
from typing import Any

from ..cache import FORMAT, KEY_ENV, MODES, Lookup, cache_dir, fingerprint, key_for, store_section
from .. import cache as _cache

__all__ = ["FORMAT", "KEY_ENV", "LIVE_FIELDS", "MODES", "Lookup", "cache_dir", "fingerprint", "key_for", "load",
           "store", "store_section", "with_live_facts", "runtime_supported", "probe_torch_cached", "would_hit"]

# Facts read live on every run: never taken from the cache.
LIVE_FIELDS = ("cuda_available", "device_count", "devices", "cuda_error")


def load(python: str, section: str = "torch") -> Lookup:
    """The cached facts of ``section`` (default: torch's build facts) for ``python``, if still valid."""
    return _cache.load(python, section)


def cacheable(data: dict[str, Any]) -> bool:
    """Only a torch that imported cleanly is cached (a failure may be transient: probe it every time)."""
    return (bool(data.get("installed")) and not data.get("import_error") and isinstance(data.get("sys_path"), list)
            and not any(e.get("ok") is None for e in data.get("extensions") or () if isinstance(e, dict)))


def store(python: str, data: dict[str, Any]) -> str:
    """Write the build facts of a fresh probe; returns a status line (never raises)."""
    if not cacheable(data):
        return "not cached (torch did not import cleanly)"
    build = {k: v for k, v in data.items() if k not in LIVE_FIELDS}
    return store_section(python, "torch", build, data["sys_path"])


def with_live_facts(build: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """Cached build facts plus what the machine says now, or None when only torch itself can tell.

    A CPU build sees no CUDA device, whatever the machine has.  A CUDA build needs the driver's own
    answer (device count, names, capabilities, its CUDA version); when the driver gives none, or its CUDA
    is older than torch's, torch's own error text matters: the caller runs the full probe instead.
    """
    if not build.get("cuda") and not build.get("hip"):
        return {**build, "cuda_available": False, "device_count": 0, "devices": []}
    if build.get("hip") or live is None or live.get("error") or not live.get("devices"):
        return None
    if not runtime_supported(live.get("driver_cuda"), build.get("cuda")):
        return None
    return {**build, "cuda_available": True, "device_count": len(live["devices"]), "devices": live["devices"]}


def runtime_supported(driver_cuda: int | None, torch_cuda: str | None) -> bool:
    """Whether a driver reporting CUDA ``driver_cuda`` (cuDriverGetVersion, 12020) runs torch's runtime.

    From CUDA 11 on, minor-version compatibility lets a driver of the same major run a newer minor
    (https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility); before 11 the
    driver must be at least the runtime's version.
    """
    if driver_cuda is None or not torch_cuda:
        return False
    try:
        major, minor = (int(x) for x in torch_cuda.split(".")[:2])
    except ValueError:
        return False
    d_major, d_minor = driver_cuda // 1000, (driver_cuda % 1000) // 10
    if d_major != major:
        return d_major > major
    return major >= 11 or d_minor >= minor


def probe_torch_cached(python: str, timeout: float, mode: str, run_full: Any, read_live: Any) -> tuple[dict[str, Any], str]:
    """The torch worker's output for ``python`` and how the cache was used.

    ``run_full()`` runs the real worker (importing torch); ``read_live()`` asks the CUDA driver.
    """
    if mode == "use":
        found = load(python)
        if found.data is not None:
            merged = with_live_facts(found.data, read_live() if found.data.get("cuda") else None)
            if merged is not None:
                return merged, "hit"
            status = "hit, but the driver could not confirm the devices: probed torch"
        else:
            status = found.status
    else:
        status = "refresh" if mode == "refresh" else "disabled (--no-cache)"
    data = run_full()
    if mode != "off":
        status += "; " + store(python, data)
    return data, status


def would_hit(python: str) -> bool:
    """Cheap: whether a probe of ``python`` will be served from the cache (the CLI then starts no worker)."""
    try:
        found = load(python)
    except Exception:
        return False
    return found.data is not None
