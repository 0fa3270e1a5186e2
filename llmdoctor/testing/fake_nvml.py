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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


class FakeNvml:
    NVML_P2P_CAPS_INDEX_READ = 0
    NVML_P2P_CAPS_INDEX_NVLINK = 2
    NVML_P2P_STATUS_OK = 0
    NVML_P2P_STATUS_NOT_SUPPORTED = 5
    NVML_NVLINK_MAX_LINKS = 18

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scenario = scenario
        self._gpus = list(scenario.get("gpus", []))

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

        return pynvml.NVMLError(code)

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
        return self.scenario["driver"]

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return int(self.scenario["cuda_driver_version"])

    nvmlSystemGetCudaDriverVersion_v2 = nvmlSystemGetCudaDriverVersion

    def nvmlSystemGetNVMLVersion(self) -> str:
        return self.scenario.get("nvml_version") or ("12." + self.scenario["driver"])

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        for gpu in self._gpus:
            for proc in gpu.get("processes", []):
                if proc["pid"] == pid and proc.get("name"):
                    return proc["name"]
        raise self._error(6)  # NVML_ERROR_NOT_FOUND

    # -- devices
    def nvmlDeviceGetCount(self) -> int:
        self._maybe_hang("nvmlDeviceGetCount")
        return len(self._gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self._gpus):
            raise self._error(2)  # NVML_ERROR_INVALID_ARGUMENT
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._field(handle, "name")

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle).get("uuid") or f"GPU-00000000-0000-0000-0000-{handle:012d}"

    def nvmlDeviceGetPciInfo(self, handle: int) -> _Pci:
        return _Pci(self._gpu(handle).get("pci_bus_id") or f"00000000:{0x18 + handle:02X}:00.0")

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        cc = self._field(handle, "cc")
        return int(cc[0]), int(cc[1])

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> _Memory:
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
        topo = self.scenario.get("topology", {})
        key = f"{min(a, b)}-{max(a, b)}"
        pair = dict(topo.get("default", {"level": 50, "p2p": False, "nvlink": False}))
        pair.update(topo.get("pairs", {}).get(key, {}))
        return pair

    def nvmlDeviceGetTopologyCommonAncestor(self, a: int, b: int) -> int:
        return int(self._pair(a, b)["level"])

    def nvmlDeviceGetP2PStatus(self, a: int, b: int, index: int) -> int:
        pair = self._pair(a, b)
        key = "nvlink" if index == self.NVML_P2P_CAPS_INDEX_NVLINK else "p2p"
        return self.NVML_P2P_STATUS_OK if pair.get(key) else self.NVML_P2P_STATUS_NOT_SUPPORTED

    def nvmlDeviceGetNvLinkState(self, handle: int, link: int) -> int:
        links = int(self._gpu(handle).get("nvlinks", 0))
        if links == 0:
            raise self._error(3)
        if link >= links:
            raise self._error(2)
        return 1
