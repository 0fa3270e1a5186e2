"""What one rank collects in its own process: its device, environment, NCCL view, name resolution.

Also the test-only per-rank override: ``LLMDOCTOR_CLUSTER_TEST_RANK<k>`` holds JSON for rank k
(``host``, ``local_rank``, ``fake_nvml``, ``env``, ``sleep``, ``crash``, ``slow``), so one machine can play
several nodes that differ.  It exists for tests and reproductions; nothing else reads it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any, Callable, Mapping

from .model import RankFacts

TEST_OVERRIDE = "LLMDOCTOR_CLUSTER_TEST_RANK"


def test_override(rank: int, environ: Mapping[str, str]) -> dict[str, Any]:
    text = environ.get(f"{TEST_OVERRIDE}{rank}")
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def apply_override(override: Mapping[str, Any]) -> None:
    """Put the override's fake NVML scenario and variables into this process's environment."""
    if override.get("fake_nvml"):
        os.environ["LLMDOCTOR_FAKE_NVML"] = str(override["fake_nvml"])
    for name, value in (override.get("env") or {}).items():
        if value is None:
            os.environ.pop(str(name), None)
        else:
            os.environ[str(name)] = str(value)


def time_boxed(fn: Callable[[], Any], seconds: float) -> tuple[Any, str | None]:
    """(result, None) or (None, why) within ``seconds``; the call runs in a daemon thread."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # a failure is data
            box["error"] = f"{type(exc).__name__}: {exc}"

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return None, f"timed out after {seconds:.0f}s"
    return box.get("value"), box.get("error")


def resolve(name: str, seconds: float = 5.0) -> str | None:
    value, _ = time_boxed(lambda: str(socket.getaddrinfo(name, None)[0][4][0]), seconds)
    return value if isinstance(value, str) else None


def reach(addr: str, port: int, seconds: float = 5.0) -> tuple[bool, str | None]:
    def connect() -> bool:
        with socket.create_connection((addr, port), timeout=seconds):
            return True

    ok, error = time_boxed(connect, seconds + 1)
    return bool(ok), error


def _device(torch: Any, local_rank: int) -> tuple[dict[str, Any] | None, str | None]:
    if not torch.cuda.is_available():
        return None, None
    count = torch.cuda.device_count()
    index = local_rank % count
    props = torch.cuda.get_device_properties(index)
    nccl = torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None
    nccl_text = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else (str(nccl) if nccl else None)
    return {"index": index, "name": props.name, "uuid": str(getattr(props, "uuid", "") or "") or None}, nccl_text


def gpu_health(index: int) -> dict[str, Any] | None:
    """Temperature, SM clock vs max, PCIe link of GPU ``index`` from NVML (or the fake); None when unread."""
    from ..probes import nvml

    def read() -> dict[str, Any]:
        backend = nvml.load_backend()
        backend.nvmlInit()
        h = backend.nvmlDeviceGetHandleByIndex(index)
        out: dict[str, Any] = {}
        calls: tuple[tuple[str, Callable[[], Any]], ...] = (
            ("temperature_c", lambda: backend.nvmlDeviceGetTemperature(h, 0)),  # NVML_TEMPERATURE_GPU
            ("sm_clock_mhz", lambda: backend.nvmlDeviceGetClockInfo(h, 1)),  # NVML_CLOCK_SM
            ("sm_clock_max_mhz", lambda: backend.nvmlDeviceGetMaxClockInfo(h, 1)),
            ("pcie_gen", lambda: backend.nvmlDeviceGetCurrPcieLinkGeneration(h)),
            ("pcie_width", lambda: backend.nvmlDeviceGetCurrPcieLinkWidth(h)),
            ("pcie_width_max", lambda: backend.nvmlDeviceGetMaxPcieLinkWidth(h)),
        )
        for key, call in calls:
            try:
                out[key] = call()
            except Exception:
                out[key] = None
        return out

    value, _ = time_boxed(read, 5.0)
    return value if value and any(v is not None for v in value.values()) else None


def collect_rank_facts(rank: int, local_rank: int, host: str, master_addr: str, master_port: int,
                       step: str) -> RankFacts:
    """This rank's facts; a part that fails is left unknown, the first error is kept."""
    import torch

    from ..probes.env import probe_env

    errors: list[str] = []
    device, nccl = None, None
    try:
        device, nccl = _device(torch, local_rank)
    except Exception as exc:  # CUDA initialisation failing is a fact about this rank
        errors.append(f"CUDA: {type(exc).__name__}: {exc}")
    real_host = socket.gethostname()  # the name others resolve (``host`` may be a test override's label)
    resolves = {real_host: resolve(real_host), master_addr: resolve(master_addr)}
    reachable, reach_error = reach(master_addr, master_port)
    health = gpu_health(int(device["index"])) if device else None
    return RankFacts(rank=rank, host=host, local_rank=local_rank, pid=os.getpid(), device=device,
                     torch_version=torch.__version__, torch_cuda=torch.version.cuda, nccl=nccl, env=probe_env(),
                     resolves=resolves, master_reachable=reachable, master_error=reach_error,
                     error="; ".join(errors) or None, last_step=step, health=health)
