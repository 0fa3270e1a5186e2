"""A fake NVML backend driven by a scenario file, for tests and reproductions without a GPU.

``LLMDOCTOR_FAKE_NVML=scenario.json llmdoctor check`` runs the real NVML probe against it.
Errors are raised as pynvml's own ``NVMLError`` classes, so the probe cannot tell the difference.

Scenario format (JSON):

    {
      "driver": "535.104.05",            # nvmlSystemGetDriverVersion
      "cuda_driver_version": 12020,      # nvmlSystemGetCudaDriverVersion(_v2): 1000*major + 10*minor
      "nvml_version": "12.535.104.05",
      "init_error": 18,                  # optional: NVML return code raised by nvmlInit (9, 12, 18, ...)
      "hang": {"call": "nvmlDeviceGetCount", "seconds": 60},   # optional: a call that blocks
      "gpus": [{"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-...", "pci_bus_id": "00000000:18:00.0",
                "cc": [9, 0], "memory_total": 85520809984, "memory_used": 0,
                "processes": [{"pid": 4242, "name": "python", "used_memory": 1073741824}],
                "mig": false, "persistence": true, "nvlinks": 18}],
      "topology": {"default": {"level": 10, "p2p": true, "nvlink": true},
                   "pairs": {"0-1": {"level": 50, "p2p": false, "nvlink": false}}}
    }

Health facts (issue 16), per GPU under "health"; a key left out is NVML_ERROR_NOT_SUPPORTED, a key named
in "denied" is NVML_ERROR_NO_PERMISSION:

    "health": {"ecc": [1, 1], "ecc_volatile": 0, "ecc_aggregate": 0, "retired_pages_pending": 0,
               "remapped_rows": [0, 0, 0, 0],          # corrected, uncorrected, pending, failure
               "recovery_action": 0, "clock_reasons": 0, "temperature": 40, "temperature_slowdown": 87,
               "power_limit": 700000, "power_default_limit": 700000, "utilization": 0,
               "pcie": {"gen": 5, "gen_max": 5, "gpu_max": 5, "width": 16, "width_max": 16},
               "nvlink_states": [1, 1, 0], "nvlink_errors": {"replay": 0},   # totals
               "fabric": {"state": 3, "status": 0}, "brand": 2, "denied": ["ecc"]},
    "mig_devices": [{"profile": "1g.10gb", "uuid": "MIG-...", "memory_total": 10200547328}]

and at the top level "xid_events": [{"gpu": 0, "xid": 79}] (delivered by nvmlEventSetWait, then timeouts).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# A device handle: the GPU's index, or (GPU index, slot) for a MIG device.
Handle = int | tuple[int, int]


@dataclass
class _Memory:
    total: int
    used: int
    free: int


@dataclass
class _Pci:
    busId: str


@dataclass
class _Process:
    pid: int
    usedGpuMemory: int | None


@dataclass
class _Utilization:
    gpu: int
    memory: int = 0


@dataclass
class _FieldValueInner:
    uiVal: int


@dataclass
class _FieldValue:
    nvmlReturn: int
    value: _FieldValueInner


@dataclass
class _EventData:
    device: int
    eventData: int
    eventType: int = 0x8


class _FabricInfo:
    def __init__(self) -> None:
        self.state = 0
        self.status = 0


class FakeNvml:
    c_nvmlGpuFabricInfo_t = _FabricInfo

    NVML_P2P_CAPS_INDEX_READ = 0
    NVML_P2P_CAPS_INDEX_NVLINK = 2
    NVML_P2P_STATUS_OK = 0
    NVML_P2P_STATUS_NOT_SUPPORTED = 5
    NVML_NVLINK_MAX_LINKS = 18

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scenario = scenario
        self._gpus: list[dict[str, Any]] = list(scenario.get("gpus", []))
        self._pairs: dict[tuple[int, int], dict[str, Any]] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> "FakeNvml":
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- helpers
    def _maybe_hang(self, call: str) -> None:
        hang = self.scenario.get("hang")
        if hang and hang.get("call") == call:
            time.sleep(float(hang.get("seconds", 3600)))

    @staticmethod
    def _error(code: int) -> Exception:
        import pynvml

        error: Exception = pynvml.NVMLError(code)
        return error

    def _gpu(self, handle: int) -> dict[str, Any]:
        return self._gpus[handle]

    def _field(self, handle: int, key: str) -> Any:
        gpu = self._gpu(handle)
        if key not in gpu or gpu[key] is None:
            raise self._error(3)  # NVML_ERROR_NOT_SUPPORTED
        return gpu[key]

    # -- system
    def nvmlInit(self) -> None:
        self._maybe_hang("nvmlInit")
        code = self.scenario.get("init_error")
        if code is not None:
            raise self._error(int(code))

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        driver: str = self.scenario["driver"]
        return driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return int(self.scenario["cuda_driver_version"])

    nvmlSystemGetCudaDriverVersion_v2 = nvmlSystemGetCudaDriverVersion

    def nvmlSystemGetNVMLVersion(self) -> str:
        version: str = self.scenario.get("nvml_version") or ("12." + self.scenario["driver"])
        return version

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        for gpu in self._gpus:
            for proc in gpu.get("processes", []):
                if proc["pid"] == pid and proc.get("name"):
                    name: str = proc["name"]
                    return name
        raise self._error(6)  # NVML_ERROR_NOT_FOUND

    # -- devices
    def nvmlDeviceGetCount(self) -> int:
        self._maybe_hang("nvmlDeviceGetCount")
        return len(self._gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self._gpus):
            raise self._error(2)  # NVML_ERROR_INVALID_ARGUMENT
        return index

    def nvmlDeviceGetName(self, handle: Handle) -> str:
        if isinstance(handle, tuple):
            return f"{self._field(handle[0], 'name')} MIG {self._mig(handle).get('profile', '1g.10gb')}"
        name: str = self._field(handle, "name")
        return name

    def nvmlDeviceGetUUID(self, handle: Handle) -> str:
        if isinstance(handle, tuple):
            mig_uuid: str = self._mig(handle).get("uuid") or f"MIG-00000000-0000-0000-0000-{handle[0]:06d}{handle[1]:06d}"
            return mig_uuid
        return self._gpu(handle).get("uuid") or f"GPU-00000000-0000-0000-0000-{handle:012d}"

    def nvmlDeviceGetPciInfo(self, handle: int) -> _Pci:
        return _Pci(self._gpu(handle).get("pci_bus_id") or f"00000000:{0x18 + handle:02X}:00.0")

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        cc = self._field(handle, "cc")
        return int(cc[0]), int(cc[1])

    def nvmlDeviceGetMemoryInfo(self, handle: Handle) -> _Memory:
        if isinstance(handle, tuple):
            mig = self._mig(handle)
            return _Memory(int(mig["memory_total"]), int(mig.get("memory_used", 0)),
                           int(mig["memory_total"]) - int(mig.get("memory_used", 0)))
        gpu = self._gpu(handle)
        total = int(self._field(handle, "memory_total"))
        used = int(gpu.get("memory_used", 0))
        return _Memory(total=total, used=used, free=total - used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[_Process]:
        return [_Process(p["pid"], p.get("used_memory")) for p in self._gpu(handle).get("processes", [])]

    def nvmlDeviceGetMigMode(self, handle: int) -> tuple[int, int]:
        mig = self._field(handle, "mig")
        return (int(bool(mig)), int(bool(mig)))

    def nvmlDeviceGetPersistenceMode(self, handle: int) -> int:
        return int(bool(self._gpu(handle).get("persistence", False)))

    # -- topology
    def _pair(self, a: int, b: int) -> dict[str, Any]:
        """The scenario's facts for a pair of GPUs (built once per pair: the probe asks three times each)."""
        key = (min(a, b), max(a, b))
        pair = self._pairs.get(key)
        if pair is None:
            topo = self.scenario.get("topology", {})
            pair = dict(topo.get("default", {"level": 50, "p2p": False, "nvlink": False}))
            pair.update(topo.get("pairs", {}).get(f"{key[0]}-{key[1]}", {}))
            self._pairs[key] = pair
        return pair

    def nvmlDeviceGetTopologyCommonAncestor(self, a: int, b: int) -> int:
        return int(self._pair(a, b)["level"])

    def nvmlDeviceGetP2PStatus(self, a: int, b: int, index: int) -> int:
        pair = self._pair(a, b)
        key = "nvlink" if index == self.NVML_P2P_CAPS_INDEX_NVLINK else "p2p"
        return self.NVML_P2P_STATUS_OK if pair.get(key) else self.NVML_P2P_STATUS_NOT_SUPPORTED

    def nvmlDeviceGetNvLinkState(self, handle: int, link: int) -> int:
        states = self._gpu(handle).get("health", {}).get("nvlink_states")
        if states is not None:
            if not states:
                raise self._error(3)
            if link >= len(states):
                raise self._error(2)
            return int(states[link])
        links = int(self._gpu(handle).get("nvlinks", 0))
        if links == 0:
            raise self._error(3)
        if link >= links:
            raise self._error(2)
        return 1

    # -- health (issue 16)
    def _health(self, handle: Handle, key: str) -> Any:
        if isinstance(handle, tuple):  # a MIG device handle
            raise self._error(3)
        health = self._gpu(handle).get("health", {})
        if key in health.get("denied", ()):
            raise self._error(4)  # NVML_ERROR_NO_PERMISSION
        if health.get(key) is None:
            raise self._error(3)  # NVML_ERROR_NOT_SUPPORTED
        return health[key]

    def nvmlDeviceGetEccMode(self, handle: int) -> tuple[int, int]:
        mode = self._health(handle, "ecc")
        return int(mode[0]), int(mode[1])

    def nvmlDeviceGetTotalEccErrors(self, handle: int, error_type: int, counter: int) -> int:
        return int(self._health(handle, "ecc_volatile" if counter == 0 else "ecc_aggregate"))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, handle: int) -> int:
        return int(self._health(handle, "retired_pages_pending"))

    def nvmlDeviceGetRemappedRows(self, handle: int) -> tuple[int, int, int, int]:
        rows = self._health(handle, "remapped_rows")
        return int(rows[0]), int(rows[1]), int(rows[2]), int(rows[3])

    def nvmlDeviceGetFieldValues(self, handle: int, fields: list[int]) -> list[_FieldValue]:
        out = []
        for _ in fields:
            try:
                out.append(_FieldValue(0, _FieldValueInner(int(self._health(handle, "recovery_action")))))
            except Exception:
                out.append(_FieldValue(3, _FieldValueInner(0)))
        return out

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        return int(self._health(handle, "clock_reasons"))

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return int(self._health(handle, "temperature"))

    def nvmlDeviceGetTemperatureThreshold(self, handle: int, threshold: int) -> int:
        return int(self._health(handle, "temperature_slowdown"))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return int(self._health(handle, "power_limit"))

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: int) -> int:
        return int(self._health(handle, "power_default_limit"))

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> _Utilization:
        return _Utilization(int(self._health(handle, "utilization")))

    def _pcie(self, handle: int, key: str) -> int:
        pcie = self._health(handle, "pcie")
        if pcie.get(key) is None:
            raise self._error(3)
        return int(pcie[key])

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: int) -> int:
        return self._pcie(handle, "gen")

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: int) -> int:
        return self._pcie(handle, "gen_max")

    def nvmlDeviceGetGpuMaxPcieLinkGeneration(self, handle: int) -> int:
        return self._pcie(handle, "gpu_max")

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: int) -> int:
        return self._pcie(handle, "width")

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: int) -> int:
        return self._pcie(handle, "width_max")

    def nvmlDeviceGetNvLinkErrorCounter(self, handle: int, link: int, counter: int) -> int:
        names = {0: "replay", 1: "recovery", 2: "crc_flit", 3: "crc_data"}
        errors = self._health(handle, "nvlink_errors")
        return int(errors.get(names[counter], 0)) if link == 0 else 0  # totals, counted on link 0

    def nvmlDeviceGetGpuFabricInfo(self, handle: int, info: _FabricInfo) -> int:
        fabric = self._health(handle, "fabric")
        info.state = int(fabric.get("state", 0))
        info.status = int(fabric.get("status", 0))
        return 0

    def nvmlDeviceGetBrand(self, handle: int) -> int:
        return int(self._health(handle, "brand"))

    # -- MIG
    def nvmlDeviceGetMaxMigDeviceCount(self, handle: int) -> int:
        return 7 if self._gpu(handle).get("mig") else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: int, index: int) -> tuple[int, int]:
        if index >= len(self._gpu(handle).get("mig_devices", [])):
            raise self._error(6)  # NVML_ERROR_NOT_FOUND: an empty slot
        return (handle, index)

    def _mig(self, handle: tuple[int, int]) -> dict[str, Any]:
        mig: dict[str, Any] = self._gpu(handle[0])["mig_devices"][handle[1]]
        return mig

    # -- events
    def nvmlEventSetCreate(self) -> list[dict[str, Any]]:
        if self.scenario.get("events_error") is not None:
            raise self._error(int(self.scenario["events_error"]))
        return list(self.scenario.get("xid_events", []))

    def nvmlDeviceRegisterEvents(self, handle: int, mask: int, events: list[dict[str, Any]]) -> None:
        pass

    def nvmlEventSetWait(self, events: list[dict[str, Any]], timeout_ms: int) -> _EventData:
        if not events:
            time.sleep(min(timeout_ms, 50) / 1000)
            raise self._error(10)  # NVML_ERROR_TIMEOUT
        event = events.pop(0)
        return _EventData(device=int(event.get("gpu", 0)), eventData=int(event["xid"]))

    def nvmlEventSetFree(self, events: list[dict[str, Any]]) -> None:
        pass
