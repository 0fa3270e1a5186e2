"""NVML probe: driver, GPUs, processes and GPU-pair topology.

Runs against any object with pynvml's API: the real ``pynvml`` module (from nvidia-ml-py) or the
scenario-driven fake in ``llmdoctor.testing.fake_nvml`` (selected with LLMDOCTOR_FAKE_NVML=scenario.json).  The code
below is the same for both.  nvidia-smi is never needed.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import re
import time

from ..snapshot import Driver, Gpu, GpuHealth, GpuLink, GpuProcess, MigDevice, XidEvent, XidLog

# NVML return codes (nvml.h) that mean something to a user.
_NVML_REASONS: dict[int | None, str] = {
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
    if sys.platform.startswith("linux") and not _library_loads():
        return _NoLibrary()
    import pynvml  # nvidia-ml-py

    return pynvml


def _library_loads() -> bool:
    """Whether libnvidia-ml.so.1 loads: the one library pynvml's nvmlInit opens on Linux
    (nvidia-ml-py ``_LoadNvmlLibrary``: ``CDLL("libnvidia-ml.so.1")``).  Without it, pynvml's import (the
    largest of a warm run on a machine with no driver) buys nothing."""
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


class _NoLibraryError(Exception):
    value = 12  # NVML_ERROR_LIBRARY_NOT_FOUND, as pynvml raises it


class _NoLibrary:
    """The NVML backend where libnvidia-ml.so.1 does not load: every call fails as pynvml's would."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise _NoLibraryError("NVML Shared Library Not Found")

        return fail


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
    # v2 asks libcuda itself; v1 may return a fallback when libcuda is absent.
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
        mig_devices=_mig_devices(nvml, handle, mig),
        health=probe_health(nvml, handle),
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


def _links(nvml: Any, handles: list[Any], gpus: tuple[Gpu, ...]) -> Iterator[GpuLink]:
    if len(handles) < 2:
        return
    read = _cap(nvml, "NVML_P2P_CAPS_INDEX_READ", 0)
    nvlink = _cap(nvml, "NVML_P2P_CAPS_INDEX_NVLINK", 2)
    ok = getattr(nvml, "NVML_P2P_STATUS_OK", 0)
    # the health read already counted each GPU's active links: queried again only where it could not
    active_links = [_counted(g) if _counted(g) is not None else _active_nvlinks(nvml, h) for g, h in zip(gpus, handles)]
    ancestor, p2p_status = nvml.nvmlDeviceGetTopologyCommonAncestor, nvml.nvmlDeviceGetP2PStatus
    for a in range(len(handles)):
        for b in range(a + 1, len(handles)):  # n(n-1)/2 pairs: the probe's one quadratic loop, kept lean
            level = _optional(ancestor, handles[a], handles[b])
            p2p = _optional(p2p_status, handles[a], handles[b], read)
            over_nvlink = _optional(p2p_status, handles[a], handles[b], nvlink)
            name = _TOPOLOGY_LEVELS.get(level) if isinstance(level, int) else None
            nvlinks = None
            if over_nvlink == ok:
                name = "NVLINK"
                nvlinks = active_links[a]
            elif over_nvlink is not None:
                nvlinks = 0
            yield GpuLink(a=a, b=b, level=name, nvlinks=nvlinks, p2p_read=(p2p == ok) if p2p is not None else None)


def _counted(gpu: Gpu) -> int | None:
    return gpu.health.nvlink_active if gpu.health is not None else None


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


# --------------------------------------------------------------------------- health facts (issue 16)

# NVML return codes that mean "this fact cannot be seen here", as the user should read them.
_UNREAD_REASONS = {3: "not supported on this GPU or driver", 4: "no permission (NVML refuses it here; containers "
                   "often lack it)", 2: "not available", 13: "not supported by this driver (function not found)",
                   15: "the GPU is lost (fallen off the bus)", 17: "NVML reported an unknown error"}
_FABRIC_STATES = {0: "not_supported", 1: "not_started", 2: "in_progress", 3: "completed"}
_BRANDS = {0: "unknown", 1: "Quadro", 2: "Tesla", 3: "NVS", 4: "GRID", 5: "GeForce", 6: "Titan", 12: "Quadro RTX",
           13: "NVIDIA RTX", 14: "NVIDIA", 15: "GeForce RTX", 16: "Titan RTX"}
_NVLINK_COUNTERS = {0: "replay", 1: "recovery", 2: "crc_flit", 3: "crc_data"}
# NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND: the device (or driver) has no such query at all
_NOT_THIS_DEVICE = (3, 13)
NVML_FI_DEV_GET_GPU_RECOVERY_ACTION = 230  # nvml.h (driver r570+)
XID_EVENT_MASK = 0x8  # nvmlEventTypeXidCriticalError


def _reason_for(code: int | None, default: str) -> str:
    return _UNREAD_REASONS.get(code, default) if code is not None else default


class _Reader:
    """Calls NVML queries for one GPU, keeping each value or the reason it could not be read."""

    def __init__(self) -> None:
        self.unread: dict[str, str] = {}

    def __call__(self, name: str, fn: Any, *args: Any) -> Any:
        if fn is None:
            self.unread[name] = "not in this NVML binding"
            return None
        try:
            return fn(*args)
        except Exception as exc:
            code = _error_code(exc)
            self.unread[name] = _reason_for(code, f"NVML error {code}" if code is not None else str(exc))
            return None


def probe_health(nvml: Any, handle: Any) -> GpuHealth:
    """Every health fact NVML gives for one GPU; what it would not give is named in ``unread``."""
    read = _Reader()
    ecc = read("ecc_mode", getattr(nvml, "nvmlDeviceGetEccMode", None), handle)
    volatile = aggregate = None
    if ecc is not None and ecc[0]:
        uncorrected = getattr(nvml, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1)
        total = getattr(nvml, "nvmlDeviceGetTotalEccErrors", None)
        volatile = read("ecc_volatile", total, handle, uncorrected, getattr(nvml, "NVML_VOLATILE_ECC", 0))
        aggregate = read("ecc_aggregate", total, handle, uncorrected, getattr(nvml, "NVML_AGGREGATE_ECC", 1))
    rows = read("remapped_rows", getattr(nvml, "nvmlDeviceGetRemappedRows", None), handle)
    pending_pages = read("retired_pages", getattr(nvml, "nvmlDeviceGetRetiredPagesPendingStatus", None), handle)
    power = _power(nvml, handle, read)
    pcie = _pcie(nvml, handle, read)
    active, inactive, errors = _nvlinks(nvml, handle, read)
    fabric_state, fabric_status = _fabric(nvml, handle, read)
    temp = read("temperature", getattr(nvml, "nvmlDeviceGetTemperature", None), handle,
                getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    slowdown = read("temperature_slowdown", getattr(nvml, "nvmlDeviceGetTemperatureThreshold", None), handle,
                    getattr(nvml, "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN", 1))
    brand = read("brand", getattr(nvml, "nvmlDeviceGetBrand", None), handle)
    return GpuHealth(
        ecc_enabled=bool(ecc[0]) if ecc is not None else None,
        ecc_pending=bool(ecc[1]) if ecc is not None else None,
        ecc_volatile_uncorrected=_int(volatile), ecc_aggregate_uncorrected=_int(aggregate),
        retired_pages_pending=bool(pending_pages) if pending_pages is not None else None,
        remapped_rows_uncorrectable=_int(rows[1]) if rows is not None else None,
        remapped_rows_pending=bool(rows[2]) if rows is not None else None,
        remapped_rows_failed=bool(rows[3]) if rows is not None else None,
        recovery_action=_recovery_action(nvml, handle, read),
        clock_event_reasons=_int(_clock_reasons(nvml, handle, read)),
        temperature=_int(temp), temperature_slowdown=_int(slowdown),
        power_limit=power[0], power_default_limit=power[1],
        pcie_gen=pcie[0], pcie_gen_max=pcie[1], pcie_gen_gpu_max=pcie[2], pcie_width=pcie[3],
        pcie_width_max=pcie[4], pcie_under_load=pcie[5],
        nvlink_active=active, nvlink_inactive=inactive, nvlink_errors=errors,
        fabric_state=fabric_state, fabric_status=fabric_status,
        brand=_BRANDS.get(brand, str(brand)) if isinstance(brand, int) else None,
        unread=dict(read.unread) or None,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _clock_reasons(nvml: Any, handle: Any, read: _Reader) -> Any:
    fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    return read("clock_event_reasons", fn, handle)


def _power(nvml: Any, handle: Any, read: _Reader) -> tuple[int | None, int | None]:
    limit = read("power_limit", getattr(nvml, "nvmlDeviceGetEnforcedPowerLimit", None), handle)
    default = read("power_default_limit", getattr(nvml, "nvmlDeviceGetPowerManagementDefaultLimit", None), handle)
    return _int(limit), _int(default)


def _pcie(nvml: Any, handle: Any, read: _Reader) -> tuple[Any, ...]:
    names = ("nvmlDeviceGetCurrPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration",
             "nvmlDeviceGetGpuMaxPcieLinkGeneration", "nvmlDeviceGetCurrPcieLinkWidth",
             "nvmlDeviceGetMaxPcieLinkWidth")
    keys = ("pcie_gen", "pcie_gen_max", "pcie_gen_gpu_max", "pcie_width", "pcie_width_max")
    values = [_int(read(key, getattr(nvml, name, None), handle)) for key, name in zip(keys, names)]
    util = read("utilization", getattr(nvml, "nvmlDeviceGetUtilizationRates", None), handle)
    busy = getattr(util, "gpu", None)
    return (*values, (busy > 0) if isinstance(busy, int) else None)


def _nvlinks(nvml: Any, handle: Any, read: _Reader) -> tuple[int | None, int | None, dict[str, int] | None]:
    state = getattr(nvml, "nvmlDeviceGetNvLinkState", None)
    if state is None:
        return None, None, None
    active = inactive = 0
    links: list[int] = []
    for link in range(int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))):
        try:
            up = state(handle, link)
        except Exception as exc:
            if link == 0 and _error_code(exc) not in (2, 3):  # 2/3: no NVLink here, known to be none
                read.unread["nvlink"] = _reason_for(_error_code(exc), str(exc))
                return None, None, None
            break
        links.append(link)
        if up:
            active += 1
        else:
            inactive += 1
    return active, inactive, _nvlink_errors(nvml, handle, links)


def _nvlink_errors(nvml: Any, handle: Any, links: list[int]) -> dict[str, int] | None:
    counter = getattr(nvml, "nvmlDeviceGetNvLinkErrorCounter", None)
    if counter is None or not links:
        return None
    totals: dict[str, int] = {}
    for code, name in _NVLINK_COUNTERS.items():
        for link in links:
            try:
                value = counter(handle, link, code)
            except Exception as exc:
                if not totals and link == links[0] and code == next(iter(_NVLINK_COUNTERS)) \
                        and _error_code(exc) in _NOT_THIS_DEVICE:
                    return None  # the device has no such counters: not 72 more calls that fail alike
                continue
            if isinstance(value, int):
                totals[name] = totals.get(name, 0) + value
    return totals or None


def _fabric(nvml: Any, handle: Any, read: _Reader) -> tuple[str | None, int | None]:
    make = getattr(nvml, "c_nvmlGpuFabricInfo_t", None)
    fn = getattr(nvml, "nvmlDeviceGetGpuFabricInfo", None)
    if make is None or fn is None:
        read.unread["fabric"] = "not in this NVML binding"
        return None, None
    info = make()
    # pynvml passes the structure straight to C: it must go by reference (pynvml re-exports ctypes' byref)
    by_ref = getattr(nvml, "byref", None)
    if read("fabric", fn, handle, by_ref(info) if by_ref else info) is None and "fabric" in read.unread:
        return None, None
    state = getattr(info, "state", None)
    status = getattr(info, "status", None)
    return _FABRIC_STATES.get(state, str(state)) if isinstance(state, int) else None, _int(status)


def _recovery_action(nvml: Any, handle: Any, read: _Reader) -> int | None:
    values = read("recovery_action", getattr(nvml, "nvmlDeviceGetFieldValues", None), handle,
                  [NVML_FI_DEV_GET_GPU_RECOVERY_ACTION])
    if not values:
        return None
    field = values[0]
    if getattr(field, "nvmlReturn", 1) != 0:
        read.unread["recovery_action"] = _reason_for(_int(getattr(field, "nvmlReturn", None)), "not available")
        return None
    return _int(getattr(getattr(field, "value", None), "uiVal", None))


_MIG_PROFILE = re.compile(r"MIG\s+(\S+)")


def _mig_devices(nvml: Any, handle: Any, mig: Any) -> tuple[MigDevice, ...] | None:
    """The MIG slices of a GPU in MIG mode (() when MIG is off; None when they could not be listed)."""
    if not mig:
        return None
    if not mig[0]:
        return ()
    count = _optional(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) if hasattr(nvml, "nvmlDeviceGetMaxMigDeviceCount") else None
    if not isinstance(count, int):
        return None
    slices: list[MigDevice] = []
    for i in range(count):
        sub = _optional(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, i)
        if sub is None:
            continue  # an empty slot
        name = _optional(lambda s=sub: _text(nvml.nvmlDeviceGetName(s))) or ""
        match = _MIG_PROFILE.search(name)
        mem = _optional(nvml.nvmlDeviceGetMemoryInfo, sub)
        slices.append(MigDevice(index=len(slices), uuid=_optional(lambda s=sub: _text(nvml.nvmlDeviceGetUUID(s))),
                                profile=match.group(1) if match else None,
                                memory_total=int(mem.total) if mem is not None else None,
                                memory_used=int(mem.used) if mem is not None else None,
                                memory_free=int(mem.free) if mem is not None else None))
    return tuple(slices)


def watch_xids(nvml: Any, seconds: float) -> XidLog:
    """Listen to NVML's XID events for ``seconds`` (``check --watch-xid``); NVML is initialised here."""
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return XidLog(unread=(f"NVML events: NVML could not be initialised ({exc})",))
    try:
        return _watch(nvml, seconds)
    finally:
        _optional(nvml.nvmlShutdown)


def _watch(nvml: Any, seconds: float) -> XidLog:
    count = nvml.nvmlDeviceGetCount()
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    uuids = [_optional(lambda h=h: _text(nvml.nvmlDeviceGetUUID(h))) for h in handles]
    try:
        events = nvml.nvmlEventSetCreate()
        for handle in handles:
            nvml.nvmlDeviceRegisterEvents(handle, XID_EVENT_MASK, events)
    except Exception as exc:
        code = _error_code(exc)
        return XidLog(unread=(f"NVML events: {_reason_for(code, str(exc))}",))
    found: list[XidEvent] = []
    deadline = time.monotonic() + max(seconds, 0.0)
    while (left := deadline - time.monotonic()) > 0:
        try:
            data = nvml.nvmlEventSetWait(events, int(min(left, 1.0) * 1000))
        except Exception:
            continue  # NVML_ERROR_TIMEOUT: nothing in this slice
        uuid = _optional(lambda d=data: _text(nvml.nvmlDeviceGetUUID(d.device)))
        gpu = uuids.index(uuid) if uuid in uuids else None
        found.append(XidEvent(xid=int(data.eventData), source="nvml-events", gpu=gpu))
    _optional(nvml.nvmlEventSetFree, events)
    return XidLog(events=tuple(found), sources=(f"NVML XID events for {seconds:g}s",))
