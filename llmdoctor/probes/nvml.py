"""NVML probe: driver, GPUs, processes and GPU-pair topology.

Runs against any object with pynvml's API: the real ``pynvml`` module (from nvidia-ml-py) or the
scenario-driven fake in ``llmdoctor.testing.fake_nvml`` (selected with LLMDOCTOR_FAKE_NVML=scenario.json).  The code
below is the same for both.  nvidia-smi is never needed.
"""

from __future__ import annotations

import os
from typing import Any

from ..snapshot import Driver, Gpu, GpuLink, GpuProcess

# NVML return codes (nvml.h) that mean something to a user.
_NVML_REASONS = {
    9: "the NVIDIA kernel driver is not loaded (NVML: Driver Not Loaded)",
    12: "the NVML library (libnvidia-ml.so) was not found: no NVIDIA driver is installed here",
    18: "NVML: Driver/library version mismatch (the user-space driver libraries and the loaded kernel module differ)",
    10: "NVML timed out",
}

_TOPOLOGY_LEVELS = {0: "INTERNAL", 10: "SINGLE", 20: "MULTIPLE", 30: "HOSTBRIDGE", 40: "NODE", 50: "SYSTEM"}


class NvmlUnavailable(Exception):
    """NVML could not be initialised; ``code`` is NVML's return code when known."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


def load_backend() -> Any:
    """The NVML backend to use: the fake when LLMDOCTOR_FAKE_NVML names a scenario, else pynvml."""
    scenario = os.environ.get("LLMDOCTOR_FAKE_NVML")
    if scenario:
        from ..testing.fake_nvml import FakeNvml

        return FakeNvml.from_file(scenario)
    import pynvml  # nvidia-ml-py

    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _optional(fn: Any, *args: Any) -> Any:
    """Call an NVML query that a GPU or driver may not support; None when it fails."""
    try:
        return fn(*args)
    except Exception:
        return None


def probe_nvml(nvml: Any) -> tuple[Driver, tuple[Gpu, ...], tuple[GpuLink, ...]]:
    try:
        nvml.nvmlInit()
    except Exception as exc:
        code = _error_code(exc)
        raise NvmlUnavailable(_NVML_REASONS.get(code, f"NVML could not be initialised: {exc}"), code) from None
    try:
        driver = Driver(
            version=_text(nvml.nvmlSystemGetDriverVersion()),
            cuda_version=_cuda_version(nvml),
            nvml_version=_optional(lambda: _text(nvml.nvmlSystemGetNVMLVersion())),
            platform="windows" if os.name == "nt" else "linux",
        )
        count = nvml.nvmlDeviceGetCount()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        gpus = tuple(_gpu(nvml, i, h) for i, h in enumerate(handles))
        links = tuple(_links(nvml, handles, gpus))
        return driver, gpus, links
    finally:
        _optional(nvml.nvmlShutdown)


def _cuda_version(nvml: Any) -> str | None:
    # v2 asks libcuda itself; v1 may return a fallback when libcuda is absent (reference_facts.md §2).
    for name in ("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"):
        fn = getattr(nvml, name, None)
        if fn is None:
            continue
        value = _optional(fn)
        if isinstance(value, int) and value > 0:
            return f"{value // 1000}.{(value % 1000) // 10}"
    return None


def _gpu(nvml: Any, index: int, handle: Any) -> Gpu:
    cc = _optional(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    mem = _optional(nvml.nvmlDeviceGetMemoryInfo, handle)
    pci = _optional(nvml.nvmlDeviceGetPciInfo, handle)
    mig = _optional(nvml.nvmlDeviceGetMigMode, handle)
    persistence = _optional(nvml.nvmlDeviceGetPersistenceMode, handle)
    procs = _optional(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
    processes = None
    if procs is not None:
        processes = tuple(
            GpuProcess(
                pid=int(p.pid),
                name=_optional(lambda pid=p.pid: _text(nvml.nvmlSystemGetProcessName(pid))),
                used_memory=_used_memory(p),
            )
            for p in procs
        )
    return Gpu(
        index=index,
        name=_optional(lambda: _text(nvml.nvmlDeviceGetName(handle))),
        uuid=_optional(lambda: _text(nvml.nvmlDeviceGetUUID(handle))),
        pci_bus_id=_text(pci.busId) if pci is not None else None,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        memory_total=int(mem.total) if mem is not None else None,
        memory_used=int(mem.used) if mem is not None else None,
        memory_free=int(mem.free) if mem is not None else None,
        processes=processes,
        mig_mode=bool(mig[0]) if mig else None,
        persistence_mode=bool(persistence) if persistence is not None else None,
    )


def _used_memory(proc: Any) -> int | None:
    value = getattr(proc, "usedGpuMemory", None)
    # NVML reports NVML_VALUE_NOT_AVAILABLE (all ones) when it cannot tell (e.g. WDDM)
    if not isinstance(value, int) or value < 0 or value >= 2**63:
        return None
    return value


def _cap(nvml: Any, name: str, default: int) -> int:
    value = getattr(nvml, name, default)
    return value[0] if isinstance(value, tuple) else value  # some pynvml releases define these as 1-tuples


def _links(nvml: Any, handles: list[Any], gpus: tuple[Gpu, ...]):
    if len(handles) < 2:
        return
    read = _cap(nvml, "NVML_P2P_CAPS_INDEX_READ", 0)
    nvlink = _cap(nvml, "NVML_P2P_CAPS_INDEX_NVLINK", 2)
    ok = getattr(nvml, "NVML_P2P_STATUS_OK", 0)
    active_links = [_active_nvlinks(nvml, h) for h in handles]
    for a in range(len(handles)):
        for b in range(a + 1, len(handles)):
            level = _optional(nvml.nvmlDeviceGetTopologyCommonAncestor, handles[a], handles[b])
            p2p = _optional(nvml.nvmlDeviceGetP2PStatus, handles[a], handles[b], read)
            over_nvlink = _optional(nvml.nvmlDeviceGetP2PStatus, handles[a], handles[b], nvlink)
            name = _TOPOLOGY_LEVELS.get(level) if isinstance(level, int) else None
            nvlinks = None
            if over_nvlink == ok:
                name = "NVLINK"
                nvlinks = active_links[a]
            elif over_nvlink is not None:
                nvlinks = 0
            yield GpuLink(a=a, b=b, level=name, nvlinks=nvlinks, p2p_read=(p2p == ok) if p2p is not None else None)


def _active_nvlinks(nvml: Any, handle: Any) -> int | None:
    state = getattr(nvml, "nvmlDeviceGetNvLinkState", None)
    if state is None:
        return None
    count = 0
    for link in range(int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))):
        try:
            if state(handle, link):
                count += 1
        except Exception:
            break  # past the last link, or NVLink not supported
    return count
