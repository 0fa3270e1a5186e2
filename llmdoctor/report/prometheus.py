"""Prometheus metrics in the node_exporter textfile-collector format.

Write them with ``llmdoctor check --format prometheus -o /var/lib/node_exporter/textfile/llmdoctor.prom``
from a timer: the file is replaced atomically, so the collector never reads half a file.

Metrics:
- ``llmdoctor_check_status{check,area,origin}``: 0 pass, 1 warn, 2 fail, 3 error, -1 unknown, -2 not applicable;
- ``llmdoctor_check_duration_seconds{check}``;
- ``llmdoctor_checks{status}``: how many checks ended with each status;
- ``llmdoctor_ok``: 1 when no check failed (per ``fail_on``), else 0;
- per GPU (labels ``gpu``, ``uuid``): ``llmdoctor_gpu_info{name,compute_capability,pci_bus_id}`` (1),
  ``llmdoctor_gpu_memory_total_bytes``, ``llmdoctor_gpu_memory_used_bytes``,
  ``llmdoctor_gpu_processes``, ``llmdoctor_gpu_persistence_mode``, ``llmdoctor_gpu_mig_mode``,
  ``llmdoctor_gpu_health`` (the worst status, same values as check_status, of the findings about that GPU);
- ``llmdoctor_last_run_timestamp_seconds``: when the snapshot was taken (Unix time).

- GPU health, XIDs and measured probes (appended for ``health.*``/``deep.*``): see HEALTH_METRICS at the end
  of this module, ``llmdoctor_gpu_clock_event_reason{reason}``, ``llmdoctor_xid_events{xid}`` and
  ``llmdoctor_deep_measure{kind,dtype,unit}``.

Unknown facts are left out, never written as 0.  Source: Prometheus "Exposition formats" (text format
0.0.4) and node_exporter README, "Textfile Collector".
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable

from ..results import Report, Status
from . import RenderOptions

STATUS_VALUE = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3, Status.UNKNOWN: -1, Status.NOT_APPLICABLE: -2}


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    items = [f'{k}="{_label(v)}"' for k, v in labels.items() if v is not None]
    return "{" + ",".join(items) + "}" if items else ""


def _num(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def metric(self, name: str, help_: str, samples: list[tuple[dict[str, object], float | int]]) -> None:
        if not samples:
            return
        if name not in self._declared:
            self._declared.add(name)
            self.lines.append(f"# HELP {name} {help_}")
            self.lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {_num(value)}")


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


_GPU_SUBJECT = re.compile(r"^GPU (\d+)\b")


def render_prometheus(report: Report, options: RenderOptions | None = None) -> str:
    out = _Out()
    out.metric("llmdoctor_check_status", "Verdict of each check: 0 pass, 1 warn, 2 fail, 3 error, -1 unknown, -2 not applicable.",
               [({"check": r.id, "area": r.area, "origin": r.origin}, STATUS_VALUE[r.status]) for r in report.checks])
    out.metric("llmdoctor_check_duration_seconds", "Time each check took.",
               [({"check": r.id}, round(r.seconds, 6)) for r in report.checks])
    out.metric("llmdoctor_checks", "Number of checks that ended with each status.",
               [({"status": s}, n) for s, n in report.summary.items()])
    out.metric("llmdoctor_ok", "1 when no check failed (per fail_on), else 0.", [({}, int(not report.failed))])

    snap = report.snapshot
    gpus = getattr(snap, "gpus", None) or ()
    health: dict[int, int] = {}
    for result in report.checks:
        for finding in result.findings:
            match = _GPU_SUBJECT.match(finding.subject or "")
            if match:
                index = int(match.group(1))
                value = STATUS_VALUE[finding.status]
                health[index] = max(health.get(index, -1), value)

    def per_gpu(attr: str, convert: Callable[[Any], Any] = lambda v: v) -> list[tuple[dict[str, object], float | int]]:
        rows = []
        for gpu in gpus:
            value = getattr(gpu, attr)
            if value is not None:
                rows.append(({"gpu": gpu.index, "uuid": gpu.uuid}, convert(value)))
        return rows

    out.metric("llmdoctor_gpu_info", "GPU identity (value is always 1).",
               [({"gpu": g.index, "uuid": g.uuid, "name": g.name, "compute_capability": g.compute_capability,
                  "pci_bus_id": g.pci_bus_id}, 1) for g in gpus])
    out.metric("llmdoctor_gpu_memory_total_bytes", "GPU memory size.", per_gpu("memory_total"))
    out.metric("llmdoctor_gpu_memory_used_bytes", "GPU memory in use when llmdoctor looked.", per_gpu("memory_used"))
    out.metric("llmdoctor_gpu_processes", "Processes holding memory on the GPU.", per_gpu("processes", len))
    out.metric("llmdoctor_gpu_persistence_mode", "1 when persistence mode is on.", per_gpu("persistence_mode", int))
    out.metric("llmdoctor_gpu_mig_mode", "1 when MIG mode is on.", per_gpu("mig_mode", int))
    out.metric("llmdoctor_gpu_health",
               "Worst verdict of the findings about this GPU: 0 pass, 1 warn, 2 fail, 3 error, -1 none.",
               [({"gpu": g.index, "uuid": g.uuid}, health.get(g.index, -1)) for g in gpus])
    created = _timestamp(getattr(getattr(snap, "meta", None), "created_at", None))
    if created is not None:
        out.metric("llmdoctor_last_run_timestamp_seconds", "When the examined snapshot was taken (Unix time).",
                   [({}, created)])
    _append_health(out, snap)  # issue 16: GPU health facts, XIDs and deep measures
    return "\n".join(out.lines) + "\n"


# --------------------------------------------------------------------------- GPU health (issue 16), appended

# (metric, help, GpuHealth field, scale): unknown facts are left out, never written as 0.
HEALTH_METRICS = (
    ("llmdoctor_gpu_ecc_enabled", "1 when ECC is on.", "ecc_enabled", None),
    ("llmdoctor_gpu_ecc_uncorrected_volatile", "Uncorrectable ECC errors since the driver loaded.", "ecc_volatile_uncorrected", None),
    ("llmdoctor_gpu_ecc_uncorrected_aggregate", "Uncorrectable ECC errors over the GPU's life.", "ecc_aggregate_uncorrected", None),
    ("llmdoctor_gpu_retired_pages_pending", "1 when retired pages wait for a GPU reset.", "retired_pages_pending", None),
    ("llmdoctor_gpu_remapped_rows_pending", "1 when a row remapping waits for a GPU reset.", "remapped_rows_pending", None),
    ("llmdoctor_gpu_remapped_rows_failed", "1 when a row remapping failed (RMA).", "remapped_rows_failed", None),
    ("llmdoctor_gpu_recovery_action", "NVML recovery action: 0 none, 1 GPU reset, 2 node reboot, 3 drain P2P, 4 drain and reset.", "recovery_action", None),
    ("llmdoctor_gpu_clock_event_reasons", "NVML clock event reasons bitmask (0x4 SW power cap, 0x8 HW slowdown, 0x20/0x40 thermal, 0x80 power brake).", "clock_event_reasons", None),
    ("llmdoctor_gpu_temperature_celsius", "GPU temperature.", "temperature", None),
    ("llmdoctor_gpu_slowdown_temperature_celsius", "Temperature at which the GPU slows down.", "temperature_slowdown", None),
    ("llmdoctor_gpu_power_limit_watts", "Enforced power limit.", "power_limit", 1000),
    ("llmdoctor_gpu_power_default_limit_watts", "Default power limit.", "power_default_limit", 1000),
    ("llmdoctor_gpu_pcie_link_gen", "Current PCIe link generation.", "pcie_gen", None),
    ("llmdoctor_gpu_pcie_link_gen_max", "Highest PCIe generation the GPU and slot allow.", "pcie_gen_max", None),
    ("llmdoctor_gpu_pcie_link_width", "Current PCIe link width (lanes).", "pcie_width", None),
    ("llmdoctor_gpu_pcie_link_width_max", "Widest PCIe link the GPU and slot allow.", "pcie_width_max", None),
    ("llmdoctor_gpu_nvlink_active", "NVLink links up.", "nvlink_active", None),
    ("llmdoctor_gpu_nvlink_inactive", "NVLink links present but down.", "nvlink_inactive", None),
)
CLOCK_REASON_BITS = (("sw_power_cap", 0x4), ("hw_slowdown", 0x8), ("sw_thermal", 0x20), ("hw_thermal", 0x40),
                     ("hw_power_brake", 0x80))


def _health_samples(gpus: tuple[Any, ...], field: str, scale: int | None) -> list[tuple[dict[str, Any], float | int]]:
    rows: list[tuple[dict[str, Any], float | int]] = []
    for gpu in gpus:
        health = getattr(gpu, "health", None)
        value = getattr(health, field, None) if health is not None else None
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        rows.append(({"gpu": gpu.index, "uuid": gpu.uuid}, value / scale if scale else value))
    return rows


def _append_health(out: _Out, snap: object) -> None:
    gpus = getattr(snap, "gpus", None) or ()
    for name, help_, field, scale in HEALTH_METRICS:
        out.metric(name, help_, _health_samples(gpus, field, scale))
    reasons: list[Any] = []
    for gpu in gpus:
        mask = getattr(getattr(gpu, "health", None), "clock_event_reasons", None)
        if mask is not None:
            reasons.extend(({"gpu": gpu.index, "uuid": gpu.uuid, "reason": r}, int(bool(mask & bit)))
                           for r, bit in CLOCK_REASON_BITS)
    out.metric("llmdoctor_gpu_clock_event_reason", "1 while this slowdown reason holds the clocks down.", reasons)
    xids = getattr(snap, "xids", None)
    if xids is not None and xids.sources:
        counts: dict[int, int] = {}
        for event in xids.events:
            counts[event.xid] = counts.get(event.xid, 0) + 1
        out.metric("llmdoctor_xid_events", "XID events found (kernel log, NVML events), by XID.",
                   [({"xid": x}, n) for x, n in sorted(counts.items())] or [({"xid": "none"}, 0)])
    deep = getattr(snap, "deep", None)
    if deep is not None:
        out.metric("llmdoctor_deep_measure", "Measured by check --deep: TFLOPS (matmul), GB/s (membw, h2d, d2h, p2p), median ms (jitter).",
                   [({"kind": m.kind, "gpu": m.device, "peer": m.peer, "dtype": m.dtype, "unit": m.unit}, m.value)
                    for m in deep.measures if m.value is not None])
