"""GPU health from NVML (``health.*``): ECC, row remapping, XIDs, clocks, temperature, power, PCIe, NVLink,
fabric manager, MIG, device order, NVML bindings and DCGM.

Every rule reads one fact NVML (or the host) gave; a fact NVML would not give is reported as what could not
be seen (``unknown``), or ``not_applicable`` where NVML says the GPU has no such feature.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping

from .. import data
from ..engine import Context, Setting, check
from ..facts import derived as F
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import DcgmDiag, Driver, FabricManager, Gpu, GpuHealth, Packages, Torch, XidEvent, XidLog
from ..units import format_bytes

XID_DOCS = "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html"
NVML_DOCS = "https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html"
NOT_SUPPORTED = "not supported on this GPU or driver"
NO_GPU = "no NVIDIA GPU on this host"

Rule = Callable[[Gpu, GpuHealth, str], Iterable[Finding]]


# --------------------------------------------------------------------------- shared helpers


def _per_gpu(gpus: tuple[Gpu, ...], rule: Rule) -> list[Finding]:
    """Apply a rule to every GPU that has health facts; the others are unknown, saying why."""
    if not gpus:
        return [not_applicable(NO_GPU)]
    findings: list[Finding] = []
    for gpu in gpus:
        label = F.gpu_label(gpu)
        if gpu.health is None:
            findings.append(unknown(f"{label}: NVML health facts were not read", subject=label))
            continue
        findings.extend(rule(gpu, gpu.health, label))
    return findings


def _why(health: GpuHealth, key: str) -> str:
    return (health.unread or {}).get(key, "not read")


def _unseen(health: GpuHealth, key: str, what: str, label: str) -> Finding:
    """not_applicable when NVML says the GPU lacks the feature, unknown when it could not be read."""
    reason = _why(health, key)
    if reason == NOT_SUPPORTED:
        return not_applicable(f"{label}: {what} is not available on this GPU (NVML: {reason})", subject=label)
    return unknown(f"{label}: {what} could not be read ({reason})", {"unread": reason}, subject=label)


def gpu_spec(name: str | None) -> dict[str, Any] | None:
    """The published-figures row of a GPU model (gpu_specs.json), or None when the model is not listed."""
    if not name:
        return None
    for row in data.load("gpu_specs")["gpus"]:
        if re.search(row["pattern"], name, re.IGNORECASE):
            return dict(row)
    return None


def xid_row(xid: int) -> dict[str, Any] | None:
    for row in data.load("xid_catalog")["xids"]:
        if row["xid"] == xid:
            return dict(row)
    return None


def _reset_cmd(gpu: Gpu) -> str:
    return f"sudo nvidia-smi -r -i {gpu.index}"


# --------------------------------------------------------------------------- ECC


def _ecc_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    if h.ecc_enabled is None:
        return [_unseen(h, "ecc_mode", "the ECC mode", label)]
    ev = {"ecc_enabled": h.ecc_enabled, "ecc_pending": h.ecc_pending, "volatile_uncorrected": h.ecc_volatile_uncorrected,
          "aggregate_uncorrected": h.ecc_aggregate_uncorrected, "retired_pages_pending": h.retired_pages_pending}
    out: list[Finding] = []
    if not h.ecc_enabled:
        spec = gpu_spec(gpu.name)
        if spec and spec.get("datacenter"):
            out.append(warn(f"{label}: ECC is off, so memory errors go undetected and can corrupt results silently",
                            ev, remedy="Turn ECC on and reset the GPU (or reboot).",
                            commands=(f"sudo nvidia-smi -i {gpu.index} -e 1", _reset_cmd(gpu)), subject=label))
        else:
            out.append(passed(f"{label}: ECC is off (this GPU is not listed as a datacenter model)", ev, subject=label))
        return out
    if h.ecc_pending is not None and h.ecc_pending != h.ecc_enabled:
        out.append(warn(f"{label}: an ECC mode change is pending until the GPU is reset", ev,
                        remedy="Reset the GPU or reboot to apply it.", commands=(_reset_cmd(gpu),), subject=label))
    if (h.ecc_volatile_uncorrected or 0) > 0:
        out.append(fail(f"{label}: {h.ecc_volatile_uncorrected} uncorrectable ECC error(s) since the driver loaded: "
                        f"results computed on this GPU may be corrupt", ev,
                        remedy="Drain the node, reset the GPU and run diagnostics (dcgmi diag -r 3); if errors "
                               "return, the GPU needs service (RMA).",
                        commands=(_reset_cmd(gpu), "dcgmi diag -r 3"), links=(XID_DOCS,), subject=label))
    elif (h.ecc_aggregate_uncorrected or 0) > 0:
        out.append(warn(f"{label}: {h.ecc_aggregate_uncorrected} uncorrectable ECC error(s) over the GPU's life "
                        f"(none since the driver loaded): watch for new ones", ev, subject=label))
    if h.retired_pages_pending:
        out.append(fail(f"{label}: retired memory pages are pending; they take effect only after a GPU reset", ev,
                        remedy="Drain the GPU and reset it (or reboot).", commands=(_reset_cmd(gpu),), subject=label))
    if out:
        return out
    unread = [k for k in ("ecc_volatile", "ecc_aggregate") if k in (h.unread or {})]
    if h.ecc_volatile_uncorrected is None:
        return [unknown(f"{label}: ECC is on, but its error counters could not be read ({_why(h, 'ecc_volatile')})",
                        ev, subject=label)]
    return [passed(f"{label}: ECC on, {h.ecc_volatile_uncorrected} uncorrectable errors since driver load"
                   + (f", {h.ecc_aggregate_uncorrected} over its life" if h.ecc_aggregate_uncorrected is not None else "")
                   + (f" (not read: {', '.join(unread)})" if unread else ""), ev, subject=label)]


@check("health.ecc", "GPU memory ECC is on and has no uncorrectable errors")
def check_ecc(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """ECC mode, uncorrectable ECC error counters and retired pages pending, from NVML.

    An uncorrectable (double-bit) ECC error means a value read from GPU memory was wrong and could not be
    repaired: the job that read it may have produced garbage, and the GPU should be drained, reset and
    tested (``dcgmi diag -r 3``); errors that come back mean the board needs service. Retired pages
    pending take effect only after a GPU reset. ECC off on a datacenter GPU lets memory errors pass silently.

    NVML: nvmlDeviceGetEccMode, nvmlDeviceGetTotalEccErrors (volatile = since driver load, aggregate = life),
    nvmlDeviceGetRetiredPagesPendingStatus. Consumer GPUs report ECC as not supported: not applicable.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html ;
    https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/index.html ;
    https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html (XID 48, 94, 95)
    """
    return _per_gpu(gpus, _ecc_rule)


# --------------------------------------------------------------------------- row remapping

RECOVERY_ACTIONS = {1: ("a GPU reset", "reset the GPU"), 2: ("a node reboot", "reboot the node"),
                    3: ("draining peer-to-peer traffic", "stop the jobs using this GPU's P2P/NVLink and drain it"),
                    4: ("a drain and reset", "drain the node and reset the GPU")}


def _remap_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    ev = {"pending": h.remapped_rows_pending, "failed": h.remapped_rows_failed,
          "uncorrectable_remaps": h.remapped_rows_uncorrectable, "recovery_action": h.recovery_action}
    out: list[Finding] = []
    if h.remapped_rows_failed:
        out.append(fail(f"{label}: a memory row remapping failed: the GPU has run out of spare rows or cannot "
                        f"repair its memory", ev, remedy="Drain the node and have the GPU serviced (RMA).",
                        links=("https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/index.html",), subject=label))
    if h.remapped_rows_pending:
        out.append(fail(f"{label}: a memory row remapping is pending: it takes effect only after a GPU reset, "
                        f"until then the bad row stays in use", ev, remedy="Drain the GPU and reset it (or reboot).",
                        commands=(_reset_cmd(gpu),), subject=label))
    action = RECOVERY_ACTIONS.get(h.recovery_action or 0)
    if action:
        out.append(fail(f"{label}: the driver asks for {action[0]} (NVML recovery action {h.recovery_action})", ev,
                        remedy=f"Drain the GPU, then {action[1]}.", links=(XID_DOCS,), subject=label))
    if out:
        return out
    if h.remapped_rows_pending is None:
        return [_unseen(h, "remapped_rows", "row remapping", label)]
    return [passed(f"{label}: no row remapping pending or failed ({h.remapped_rows_uncorrectable or 0} rows remapped "
                   f"for uncorrectable errors)" + ("" if h.recovery_action is not None else
                                                   f"; recovery action not read ({_why(h, 'recovery_action')})"),
                   ev, subject=label)]


@check("health.remapped-rows", "No memory row remapping is pending or failed")
def check_remapped_rows(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """Row remapping (A100 and newer): pending or failed remaps, and NVML's recovery action.

    When HBM rows go bad the GPU remaps them to spares. A pending remap needs a GPU reset to take effect;
    a failed one means the GPU cannot repair its memory and needs service (RMA). Drivers r570+ also report
    the recovery action they want (NVML_FI_DEV_GET_GPU_RECOVERY_ACTION: GPU reset, node reboot, drain P2P,
    drain and reset), which llmdoctor reports as a failure naming the action. GPUs before Ampere retire
    pages instead (see health.ecc): not applicable.

    Sources: https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/index.html ;
    https://docs.nvidia.com/deploy/nvml-api/structnvmlRemappedRowsInfo__v2__t.html ;
    https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html (XID 154)
    """
    return _per_gpu(gpus, _remap_rule)


# --------------------------------------------------------------------------- XID


def _bus_key(bus: str | None) -> tuple[str, ...] | None:
    """'0000:cb:00' and '00000000:CB:00.0' both give ('cb', '00')."""
    if not bus:
        return None
    parts = bus.lower().split(":")
    return (parts[-2], parts[-1].split(".")[0]) if len(parts) >= 2 else None


def _which_gpu(event: XidEvent, gpus: tuple[Gpu, ...]) -> str:
    if event.gpu is not None:
        return f"GPU {event.gpu}"
    key = _bus_key(event.pci_bus_id)
    for gpu in gpus:
        if key and _bus_key(gpu.pci_bus_id) == key:
            return f"GPU {gpu.index}"
    return f"the GPU at PCI {event.pci_bus_id}" if event.pci_bus_id else "a GPU"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _with_error_texts(xids: XidLog | None, errors: tuple[str, ...]) -> XidLog | None:
    """The XID log plus the XID lines found in the given error texts (a pasted dmesg)."""
    from ..facts.health import parse_xid_lines  # a pure parser

    found = parse_xid_lines(line for text in errors or () for line in text.splitlines())
    if not found:
        return xids
    base = xids or XidLog()
    return XidLog(events=base.events + found, sources=base.sources + ("the given error texts",), unread=base.unread)


SERIOUS = ("RESET_GPU", "RESTART_BM", "CONTACT_SUPPORT", "DRAIN")


def _xid_finding(xid: int, events: list[XidEvent], gpus: tuple[Gpu, ...]) -> Finding:
    row = xid_row(xid)
    ladder = data.load("xid_catalog")["ladder"]
    where = sorted({_which_gpu(e, gpus) for e in events})
    subject = where[0] if len(where) == 1 and where[0].startswith("GPU ") else None
    ev = {"xid": xid, "count": len(events), "gpus": where, "lines": [e.text for e in events if e.text][:5]}
    if row is None:
        return warn(f"XID {xid} ({len(events)}x on {', '.join(where)}) is not in llmdoctor's catalog", ev,
                    remedy="Look it up in NVIDIA's XID catalog.", links=(XID_DOCS,), subject=subject)
    steps = [ladder.get(row["bucket"], row["bucket"])]
    if row.get("then") in ladder:
        steps.append(f"if it recurs: {ladder[row['then']]}")
    message = f"XID {xid}, {row['name']}, {len(events)}x on {', '.join(where)}"
    make = fail if row["bucket"] in SERIOUS else warn
    return make(message, {**ev, "bucket": row["bucket"]}, remedy=_sentence("; ".join(steps)),
                links=(row["source"].split(";")[0].strip(),), subject=subject)


@check("health.xid", "No hardware XID errors were reported by the driver",
       settings={"watch_xid": Setting(float, 0.0, "also listen to NVML XID events for this many seconds",
                                      flag="--watch-xid")})
def check_xid(xids: XidLog | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> list[Finding]:
    """XID errors in the kernel log (dmesg, journalctl -k) and, with ``--watch-xid SECONDS``, from NVML events.

    The NVIDIA driver reports GPU faults as XIDs ("NVRM: Xid (PCI:0000:cb:00): 79, ... GPU has fallen off
    the bus"). Each is decoded from a catalog built from NVIDIA's XID catalog with its meaning and action
    ladder: restart the application, reset the GPU, reboot/drain the node, service. XIDs NVIDIA's
    Kubernetes device plugin treats as application errors (13, 31, 43, 45, 68: the GPU stays healthy) are
    counted but not reported as GPU faults. Reading the kernel log may need root (dmesg restrictions):
    when it cannot be read the check says so and is unknown. XID lines in pasted texts (``check --from
    dmesg.txt``, ``--error``) are decoded the same way. The kernel log covers the current boot: an XID
    already handled (the GPU was reset and tested) keeps showing until the node reboots; then
    ``--ignore health.xid`` for that run.

    Sources: https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html ;
    NVIDIA/k8s-device-plugin internal/rm/health.go (applicationErrorXids).
    """
    xids = _with_error_texts(xids, errors)
    if gpus == () and not (xids and xids.events):
        return [not_applicable(NO_GPU)]
    if xids is None:
        return [unknown("the kernel log and NVML events were not read for XIDs")]
    if not xids.sources:
        return [unknown("no XID source could be read: " + "; ".join(xids.unread), {"unread": list(xids.unread)})]
    by_xid: dict[int, list[XidEvent]] = {}
    for event in xids.events:
        by_xid.setdefault(event.xid, []).append(event)
    app = {x for x in by_xid if (xid_row(x) or {}).get("application")}
    findings = [_xid_finding(x, evs, gpus or ()) for x, evs in sorted(by_xid.items()) if x not in app]
    ev = {"sources": list(xids.sources), "unread": list(xids.unread),
          "application_xids": {str(x): len(by_xid[x]) for x in sorted(app)}}
    if not findings:
        ignored = f"; application XIDs ignored: {', '.join(f'{x} ({len(by_xid[x])}x)' for x in sorted(app))}" if app else ""
        findings.append(passed(f"no hardware XID in {', '.join(xids.sources)}{ignored}", ev))
    return findings


# --------------------------------------------------------------------------- clocks, temperature, power

CLOCK_REASONS = {0x4: "software power cap (the board is at its power limit)",
                 0x8: "hardware slowdown (power brake or overheating signalled by the board)",
                 0x20: "software thermal slowdown (the GPU is above its target temperature)",
                 0x40: "hardware thermal slowdown (the GPU is too hot)",
                 0x80: "hardware power brake (an external power-brake signal, e.g. the PSU)"}
BENIGN_REASONS = {0x1: "idle", 0x2: "application clocks setting", 0x10: "sync boost", 0x100: "display clock setting"}


def _clock_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    if h.clock_event_reasons is None:
        return [_unseen(h, "clock_event_reasons", "the clock event reasons", label)]
    mask = h.clock_event_reasons
    ev = {"clock_event_reasons": hex(mask), "temperature": h.temperature, "power_limit_mw": h.power_limit}
    bad = [text for bit, text in CLOCK_REASONS.items() if mask & bit]
    if bad:
        return [warn(f"{label}: clocks are being slowed by " + "; ".join(bad) + ": it runs below its rated speed",
                     ev, remedy="Check cooling and airflow, the power limit (nvidia-smi -q -d PERFORMANCE,POWER) and "
                                "the PSU; see health.temperature and health.power-limit.",
                     commands=(f"nvidia-smi -q -d PERFORMANCE -i {gpu.index}",), subject=label)]
    benign = [text for bit, text in BENIGN_REASONS.items() if mask & bit]
    return [passed(f"{label}: no slowdown reason active" + (f" (reasons: {', '.join(benign)})" if benign else ""),
                   ev, subject=label)]


@check("health.clocks", "No thermal or power slowdown is holding the GPU clocks down")
def check_clocks(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """Clock event reasons (formerly throttle reasons) from NVML: thermal, power brake, HW slowdown, SW power cap.

    A GPU whose clocks are held down by heat or power runs a job slower than its peers, and in data
    parallel training the slowest GPU sets everyone's pace. Idle, application-clock and sync-boost reasons
    are not problems and are only listed.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlClocksEventReasons.html ;
    nvidia-smi -q -d PERFORMANCE.
    """
    return _per_gpu(gpus, _clock_rule)


def _temperature_rule(gpu: Gpu, h: GpuHealth, label: str, margin: int) -> list[Finding]:
    if h.temperature is None:
        return [_unseen(h, "temperature", "the temperature", label)]
    if h.temperature_slowdown is None:
        return [_unseen(h, "temperature_slowdown", "the slowdown temperature", label)]
    ev = {"temperature_c": h.temperature, "slowdown_c": h.temperature_slowdown, "margin_c": margin}
    if h.temperature >= h.temperature_slowdown - margin:
        return [warn(f"{label}: {h.temperature} C, within {margin} C of its slowdown threshold "
                     f"({h.temperature_slowdown} C): clocks drop when it gets there", ev,
                     remedy="Improve cooling (airflow, fan curve, inlet temperature) before running long jobs.",
                     subject=label)]
    return [passed(f"{label}: {h.temperature} C, slowdown at {h.temperature_slowdown} C", ev, subject=label)]


@check("health.temperature", "GPU temperature is clear of its slowdown threshold",
       settings={"margin": Setting(int, 5, "warn within this many degrees C of the slowdown threshold")})
def check_temperature(gpus: tuple[Gpu, ...], ctx: Context) -> list[Finding]:
    """GPU temperature against the slowdown threshold NVML reports (NVML_TEMPERATURE_THRESHOLD_SLOWDOWN).

    Above the threshold the GPU lowers its clocks. The threshold is the GPU's own, read from NVML, not a
    table. Warns within ``margin`` degrees of it.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html (nvmlDeviceGetTemperatureThreshold).
    """
    margin = int(ctx.setting("margin"))
    return _per_gpu(gpus, lambda g, h, label: _temperature_rule(g, h, label, margin))


def _power_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    if h.power_limit is None or h.power_default_limit is None:
        key = "power_limit" if h.power_limit is None else "power_default_limit"
        return [_unseen(h, key, "the power limit", label)]
    ev = {"power_limit_w": h.power_limit / 1000, "default_limit_w": h.power_default_limit / 1000}
    if h.power_limit < 0.95 * h.power_default_limit:
        return [warn(f"{label}: power limit {h.power_limit / 1000:.0f} W is below its default "
                     f"{h.power_default_limit / 1000:.0f} W: clocks are capped under load", ev,
                     remedy="Restore the default power limit (unless the cap is deliberate).",
                     commands=(f"sudo nvidia-smi -i {gpu.index} -pl {h.power_default_limit // 1000}",), subject=label)]
    return [passed(f"{label}: power limit {h.power_limit / 1000:.0f} W (default {h.power_default_limit / 1000:.0f} W)",
                   ev, subject=label)]


@check("health.power-limit", "GPU power limit is not set below its default")
def check_power_limit(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """Enforced power limit against the default limit (nvmlDeviceGetEnforcedPowerLimit, ...DefaultLimit).

    A power limit set below the default (``nvidia-smi -pl``, or a datacenter power policy) caps the clocks
    under load: matmul throughput drops with it. Warns when the limit is more than 5% below the default.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html ; nvidia-smi(1) -pl.
    """
    return _per_gpu(gpus, _power_rule)


def _is_datacenter(gpu: Gpu) -> bool | None:
    spec = gpu_spec(gpu.name)
    if spec is not None:
        return bool(spec.get("datacenter"))
    brand = gpu.health.brand if gpu.health else None
    if brand == "Tesla":
        return True
    if brand in ("GeForce", "GeForce RTX", "Titan", "Titan RTX"):
        return False
    return None


def _persistence_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    if gpu.persistence_mode is None:
        return [unknown(f"{label}: persistence mode was not read", subject=label)]
    dc = _is_datacenter(gpu)
    ev = {"persistence_mode": gpu.persistence_mode, "datacenter": dc}
    if gpu.persistence_mode:
        return [passed(f"{label}: persistence mode on", ev, subject=label)]
    if dc is None:
        return [not_applicable(f"{label}: persistence mode off; whether this model is a datacenter GPU is unknown", ev,
                               subject=label)]
    if not dc:
        return [passed(f"{label}: persistence mode off (normal on a workstation/consumer GPU)", ev, subject=label)]
    return [warn(f"{label}: persistence mode is off on a datacenter GPU: the driver tears the GPU down between "
                 f"jobs, so each job starts slower and settings (ECC, clocks) are re-applied", ev,
                 remedy="Run the NVIDIA persistence daemon (preferred) or turn persistence mode on.",
                 commands=("sudo systemctl enable --now nvidia-persistenced", f"sudo nvidia-smi -i {gpu.index} -pm 1"),
                 links=("https://docs.nvidia.com/deploy/driver-persistence/index.html",), subject=label)]


@check("health.persistence", "Persistence mode is on for datacenter GPUs")
def check_persistence(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """Persistence mode on datacenter GPUs.

    Without persistence (nvidia-persistenced or ``nvidia-smi -pm 1``) the driver deinitialises an idle
    GPU: every job pays the initialisation again and some settings are re-applied. NVIDIA recommends the
    persistence daemon on datacenter systems. Consumer GPUs are not judged.

    Sources: https://docs.nvidia.com/deploy/driver-persistence/index.html
    """
    return _per_gpu(gpus, _persistence_rule)


# --------------------------------------------------------------------------- PCIe and NVLink


def _pcie_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    if h.pcie_width is None or h.pcie_width_max is None or h.pcie_gen is None or h.pcie_gen_max is None:
        return [_unseen(h, "pcie_width" if h.pcie_width is None else "pcie_gen", "the PCIe link", label)]
    ev = {"gen": h.pcie_gen, "gen_max": h.pcie_gen_max, "gen_gpu_max": h.pcie_gen_gpu_max, "width": h.pcie_width,
          "width_max": h.pcie_width_max, "under_load": h.pcie_under_load}
    out: list[Finding] = []
    if h.pcie_width < h.pcie_width_max:
        out.append(warn(f"{label}: PCIe link runs x{h.pcie_width} of x{h.pcie_width_max}: host transfers get "
                        f"{h.pcie_width}/{h.pcie_width_max} of the bandwidth (the width does not drop at idle: a seating, "
                        f"riser or slot problem)", ev, remedy="Reseat the GPU or its riser, check the slot's wiring "
                        "in the server manual, and check the BIOS PCIe settings.", subject=label))
    if h.pcie_gen < h.pcie_gen_max:
        if h.pcie_under_load:
            out.append(warn(f"{label}: PCIe link runs Gen{h.pcie_gen} of Gen{h.pcie_gen_max} under load: host "
                            f"transfers are slower", ev, remedy="Check the BIOS PCIe generation setting, risers and "
                            "retimers; reseat the GPU.", subject=label))
        else:
            out.append(unknown(f"{label}: PCIe link at Gen{h.pcie_gen} of Gen{h.pcie_gen_max} while idle; GPUs lower "
                               f"the generation when idle, so judge it under load (run a job, or check --deep)", ev,
                               subject=label))
    if h.pcie_gen_gpu_max is not None and h.pcie_gen_max < h.pcie_gen_gpu_max and not out:
        out.append(passed(f"{label}: PCIe Gen{h.pcie_gen} x{h.pcie_width}, the most this slot allows "
                          f"(the GPU supports Gen{h.pcie_gen_gpu_max})", ev, subject=label))
    if not out:
        out.append(passed(f"{label}: PCIe Gen{h.pcie_gen} x{h.pcie_width} (max Gen{h.pcie_gen_max} x{h.pcie_width_max})",
                          ev, subject=label))
    return out


@check("health.pcie-link", "PCIe link runs at the GPU's full generation and width")
def check_pcie_link(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """PCIe link generation and width against the most the GPU and slot allow.

    A link trained narrower than its maximum (x8 instead of x16) halves host<->device bandwidth; the width
    does not change at idle, so a narrow link is a seating, riser or slot problem. The generation does drop at
    idle to save power, so a low generation is judged only when the GPU was busy when read (utilisation > 0);
    at idle the check says so and stays unknown. ``check --deep`` measures the pinned transfer rate.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html
    (nvmlDeviceGetCurrPcieLinkGeneration/Width, nvmlDeviceGetMaxPcieLinkGeneration/Width).
    """
    return _per_gpu(gpus, _pcie_rule)


def _nvlink_rule(gpu: Gpu, h: GpuHealth, label: str) -> list[Finding]:
    expected = (gpu_spec(gpu.name) or {}).get("nvlinks")
    if h.nvlink_active is None:
        return [_unseen(h, "nvlink", "NVLink state", label)]
    total = h.nvlink_active + (h.nvlink_inactive or 0)
    ev = {"active": h.nvlink_active, "inactive": h.nvlink_inactive, "expected": expected, "errors": dict(h.nvlink_errors or {})}
    if total == 0 and not expected:
        return [not_applicable(f"{label}: no NVLink on this GPU", ev, subject=label)]
    out: list[Finding] = []
    if h.nvlink_inactive:
        out.append(fail(f"{label}: {h.nvlink_inactive} of {total} NVLink links are down: GPU-to-GPU traffic falls "
                        f"back to fewer links or PCIe", ev, remedy="Drain the node, reset the GPUs (or reboot); if links "
                        "stay down, the baseboard needs service.", commands=("nvidia-smi nvlink --status",), subject=label))
    elif expected and h.nvlink_active < expected:
        out.append(warn(f"{label}: {h.nvlink_active} NVLink links active, {expected} expected for this model", ev,
                        remedy="Check nvidia-smi nvlink --status; drain and service the node if links are missing.",
                        commands=("nvidia-smi nvlink --status",), subject=label))
    errors = h.nvlink_errors or {}
    if errors.get("recovery", 0) > 0 or errors.get("crc_data", 0) > 0:
        out.append(warn(f"{label}: NVLink error counters are non-zero ({', '.join(f'{k} {v}' for k, v in errors.items())}): "
                        f"links retrain or corrupt data; a rising count points to a failing link", ev,
                        commands=(f"nvidia-smi nvlink -e -i {gpu.index}",), subject=label))
    return out or [passed(f"{label}: {h.nvlink_active} NVLink links active" + (f" of {expected} expected" if expected else ""),
                          ev, subject=label)]


@check("health.nvlink", "Every NVLink link is up and error-free")
def check_nvlink(gpus: tuple[Gpu, ...]) -> list[Finding]:
    """NVLink links down or inactive against the model's expected count, and NVLink error counters.

    A link down on an NVLink/NVSwitch system cuts GPU-to-GPU bandwidth (NCCL all-reduce slows or falls back)
    and usually shows as XID 74. The expected link count comes from the model's published figures
    (H100 SXM: 18, A100 SXM: 12). Recovery and CRC-data error counts above zero are warnings.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__NvLink.html ; NVIDIA H100/A100 datasheets
    (NVLink 900 GB/s = 18 links, 600 GB/s = 12 links).
    """
    return _per_gpu(gpus, _nvlink_rule)


# --------------------------------------------------------------------------- fabric manager

FABRIC_DOCS = "https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html"


def _fabric_package(driver: Driver | None) -> tuple[str, list[str]]:
    version = driver.version if driver and driver.version else None
    branch = version.split(".")[0] if version else "<driver branch>"
    pkg = f"nvidia-fabricmanager-{branch}"
    cmds = [f"sudo apt-get install {pkg}" + (f"={version}-1" if version else ""),
            "sudo systemctl enable --now nvidia-fabricmanager"]
    return pkg, cmds


def _cuda_802(torch: Torch | None, errors: tuple[str, ...]) -> str | None:
    texts = [t for t in (*(errors or ()), (torch.cuda_error if torch else None) or "") if t]
    for text in texts:
        if "802" in text or "system not yet initialized" in text.lower():
            return text[:300]
    return None


def _fabric_states(gpus: tuple[Gpu, ...]) -> dict[int, str | None]:
    return {g.index: g.health.fabric_state if g.health else None for g in gpus}


@check("health.fabric", "NVSwitch fabric is initialised and its fabric manager matches the driver")
def check_fabric(gpus: tuple[Gpu, ...], fabric: FabricManager | None, driver: Driver | None,
                 torch: Torch | None, errors: tuple[str, ...]) -> list[Finding]:
    """NVSwitch systems (HGX/DGX A100, H100): the fabric state, the fabric-manager service and its version.

    On NVSwitch systems CUDA cannot start until nvidia-fabricmanager has set up the fabric: until then CUDA
    calls fail with error 802 "system not yet initialized". The check reads four things: NVML's fabric
    state per GPU (not started / in progress / completed, and the registration status), whether the
    nvidia-fabricmanager service is active, whether its version equals the driver's (they must match
    exactly), and CUDA error 802 in torch's CUDA error or the given error texts. The fix installs the
    fabric-manager package of the driver's branch, at the driver's exact version.

    Sources: https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html ;
    https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html (nvmlDeviceGetGpuFabricInfo).
    """
    states = _fabric_states(gpus)
    switches = fabric.nvswitches if fabric else None
    on_fabric = any(s not in (None, "not_supported") for s in states.values()) or bool(switches)
    if not gpus:
        return [not_applicable(NO_GPU)]
    if not on_fabric:
        if switches is None and all(s is None for s in states.values()):
            return [unknown("neither NVML's fabric state nor the NVSwitch devices could be read")]
        return [not_applicable("no NVSwitch fabric here (NVML: fabric not supported, no NVSwitch device)")]
    pkg, cmds = _fabric_package(driver)
    symptom = _cuda_802(torch, errors)
    ev = {"fabric_states": {str(k): v for k, v in states.items()}, "nvswitches": switches,
          "service_active": fabric.service_active if fabric else None,
          "fabricmanager_version": fabric.version if fabric else None,
          "driver": driver.version if driver else None, "cuda_802": symptom}
    findings = _fabric_state_findings(gpus, ev, pkg, cmds) + _fabric_service_findings(fabric, driver, ev, pkg, cmds)
    if symptom and not any(f.status.value == "fail" for f in findings):
        findings.append(fail("CUDA reports error 802 (system not yet initialized): the NVSwitch fabric is not ready",
                             ev, remedy=f"Start nvidia-fabricmanager ({pkg}, the driver's exact version).",
                             commands=cmds, links=(FABRIC_DOCS,)))
    if not findings:
        state_text = ("NVSwitch fabric completed on every GPU" if all(v == "completed" for v in states.values())
                      else f"{switches} NVSwitch(es); NVML gives no fabric state on these GPUs")
        findings.append(passed(f"{state_text}; nvidia-fabricmanager {ev['fabricmanager_version']} active and equal to "
                               f"the driver", ev))
    return findings


def _fabric_state_findings(gpus: tuple[Gpu, ...], ev: dict[str, Any], pkg: str, cmds: list[str]) -> list[Finding]:
    out: list[Finding] = []
    for gpu in gpus:
        h = gpu.health
        state = h.fabric_state if h else None
        label = F.gpu_label(gpu)
        if state in ("not_started", "in_progress"):
            out.append(fail(f"{label}: NVSwitch fabric {state.replace('_', ' ')}: CUDA fails with error 802 "
                            f"(system not yet initialized) until the fabric manager completes it", ev,
                            remedy=f"Start nvidia-fabricmanager ({pkg}, the driver's exact version).", commands=cmds,
                            links=(FABRIC_DOCS,), subject=label))
        elif state == "completed" and h is not None and h.fabric_status not in (None, 0):
            out.append(fail(f"{label}: NVSwitch fabric registration failed (NVML status {h.fabric_status})", ev,
                            remedy="Check the fabric manager log (/var/log/fabricmanager.log) and restart it.",
                            commands=("sudo systemctl restart nvidia-fabricmanager",), links=(FABRIC_DOCS,), subject=label))
        elif state is None and h is not None and _why(h, "fabric") != NOT_SUPPORTED:
            out.append(unknown(f"{label}: NVSwitch fabric state could not be read ({_why(h, 'fabric')})", ev, subject=label))
    return out


def _fabric_service_findings(fabric: FabricManager | None, driver: Driver | None, ev: dict[str, Any], pkg: str,
                             cmds: list[str]) -> list[Finding]:
    if fabric is None:  # an NVSwitch system whose fabric manager was not probed: never a pass on it
        return [unknown("whether nvidia-fabricmanager runs, and at the driver's version, is unknown (not probed)", ev)]
    if not fabric.nvswitches:
        return []
    out: list[Finding] = []
    if fabric.service_active is False:
        out.append(fail("nvidia-fabricmanager is not running on this NVSwitch system: CUDA cannot start (error 802)",
                        ev, remedy=f"Install {pkg} at the driver's version and start it.", commands=cmds, links=(FABRIC_DOCS,)))
    elif fabric.service_active is None:
        out.append(unknown(f"whether nvidia-fabricmanager runs is unknown ({fabric.detail or 'not read'})", ev))
    drv = driver.version if driver else None
    if fabric.version and drv and data.version(fabric.version) != data.version(drv):
        out.append(fail(f"nvidia-fabricmanager {fabric.version} differs from driver {drv}: the fabric manager refuses "
                        f"to start on a version mismatch", ev, remedy=f"Install {pkg} at exactly {drv}.",
                        commands=cmds, links=(FABRIC_DOCS,)))
    elif fabric.version is None or drv is None:
        out.append(unknown("the fabric manager's or the driver's version is unknown, so their match is unknown", ev))
    return out


# --------------------------------------------------------------------------- MIG


def _mig_findings(gpu: Gpu, env: Mapping[str, str] | None) -> list[Finding]:
    label = F.gpu_label(gpu)
    slices = gpu.mig_devices
    ev: dict[str, Any] = {"mig_mode": True, "slices": [{"uuid": m.uuid, "profile": m.profile, "memory_total": m.memory_total}
                                                      for m in slices or ()]}
    if slices is None:
        return [unknown(f"{label}: MIG is on, but its slices could not be listed", ev, subject=label)]
    if not slices:
        return [fail(f"{label}: MIG mode is on but no GPU instance is created: CUDA sees no device on this GPU", ev,
                     remedy="Create GPU and compute instances, or turn MIG off.",
                     commands=(f"sudo nvidia-smi mig -i {gpu.index} -cgi 1g.10gb -C", f"sudo nvidia-smi -i {gpu.index} -mig 0"),
                     links=("https://docs.nvidia.com/datacenter/tesla/mig-user-guide/index.html",), subject=label)]
    desc = ", ".join(f"{m.profile or '?'} ({format_bytes(m.memory_total or 0, unit='GiB')})" for m in slices)
    out = [passed(f"{label}: MIG on with {len(slices)} slice(s): {desc}; a CUDA process uses one slice, with "
                  f"{format_bytes(slices[0].memory_total or 0, unit='GiB')}", ev, subject=label)]
    visible = (env or {}).get("CUDA_VISIBLE_DEVICES")
    mig_uuids = [v for v in (visible or "").split(",") if v.strip().startswith("MIG-")]
    if len(mig_uuids) > 1:
        out.append(warn(f"CUDA_VISIBLE_DEVICES names {len(mig_uuids)} MIG devices, but a CUDA process enumerates only "
                        f"one MIG device: the others are not used", {**ev, "CUDA_VISIBLE_DEVICES": visible},
                        remedy="Give each process one MIG UUID (one process per slice).", subject=label))
    elif visible and not mig_uuids and len(slices) > 1:
        out.append(warn(f"CUDA_VISIBLE_DEVICES={visible} selects by GPU index on a MIG GPU: which slice a process "
                        f"gets is not chosen; name the slice by its MIG UUID", {**ev, "CUDA_VISIBLE_DEVICES": visible},
                        remedy=f"export CUDA_VISIBLE_DEVICES={slices[0].uuid}", subject=label))
    return out


@check("health.mig", "MIG slices are set up and selected by UUID")
def check_mig(gpus: tuple[Gpu, ...], env: Mapping[str, str] | None) -> list[Finding]:
    """MIG mode per GPU, its slices and their memory, and how CUDA_VISIBLE_DEVICES selects them.

    A GPU in MIG mode shows CUDA only its slices, and a CUDA process enumerates a single MIG device: a job
    sized for the whole GPU gets one slice's memory (``fit --gpus auto`` plans on the slice). MIG on with no
    instance created leaves CUDA with no device. CUDA_VISIBLE_DEVICES should name MIG UUIDs (MIG-...); naming
    several in one process uses only one.

    Sources: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/index.html (CUDA device enumeration,
    "CUDA_VISIBLE_DEVICES ... MIG-<UUID>").
    """
    if not gpus:
        return [not_applicable(NO_GPU)]
    on = [g for g in gpus if g.mig_mode]
    if not on:
        if all(g.mig_mode is None for g in gpus):
            return [unknown("the MIG mode could not be read on any GPU")]
        return [not_applicable("MIG is off on every GPU")]
    return [f for g in on for f in _mig_findings(g, env)]


# --------------------------------------------------------------------------- device order, bindings, DCGM


@check("health.device-order", "CUDA and nvidia-smi number mixed GPUs the same way")
def check_device_order(gpus: tuple[Gpu, ...], env: Mapping[str, str] | None) -> Finding:
    """Mixed GPU models in one machine: CUDA's default order is fastest first, nvidia-smi's is PCI bus order.

    With two models in a box, ``cuda:0`` (torch) and GPU 0 of nvidia-smi can be different boards, so a job
    pinned "to GPU 0" lands on the other one and memory or health readings point at the wrong board.
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes CUDA number GPUs like nvidia-smi.

    Sources: https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#env-vars
    (CUDA_DEVICE_ORDER: FASTEST_FIRST default, PCI_BUS_ID).
    """
    names = sorted({g.name for g in gpus if g.name})
    if len(gpus) < 2 or len(names) < 2:
        if not gpus:
            return not_applicable(NO_GPU)
        return not_applicable(f"one GPU model here ({names[0] if names else 'unknown'}): the orders agree")
    if env is None:
        return unknown("the environment was not read, so CUDA_DEVICE_ORDER is unknown", {"models": names})
    order = env.get("CUDA_DEVICE_ORDER")
    ev = {"models": names, "CUDA_DEVICE_ORDER": order}
    if order == "PCI_BUS_ID":
        return passed(f"mixed models ({', '.join(names)}) and CUDA_DEVICE_ORDER=PCI_BUS_ID: cuda:N is nvidia-smi's GPU N", ev)
    return warn(f"this machine mixes {', '.join(names)}: CUDA numbers them fastest first, so cuda:0 may not be "
                f"nvidia-smi's GPU 0", ev, remedy="Number CUDA devices in PCI bus order, like nvidia-smi.",
                commands=("export CUDA_DEVICE_ORDER=PCI_BUS_ID",))


DEPRECATED_BINDINGS = {"pynvml": "the 'pynvml' distribution is deprecated and now only wraps nvidia-ml-py",
                       "nvidia-ml-py3": "'nvidia-ml-py3' is an unmaintained 2017 fork of the NVML bindings"}


@check("health.nvml-bindings", "NVML bindings come from nvidia-ml-py, not a deprecated distribution")
def check_nvml_bindings(packages: Packages) -> Finding:
    """Deprecated NVML Python bindings: the ``pynvml`` and ``nvidia-ml-py3`` distributions.

    Both install a module named ``pynvml`` that competes with NVIDIA's own ``nvidia-ml-py``: the one
    installed last wins, and the old one lacks newer NVML calls (torch's memory and device queries, vLLM and
    monitoring tools use them). The ``pynvml`` distribution (12.x) now only depends on nvidia-ml-py and
    warns that it is deprecated.

    Fix: ``pip uninstall -y pynvml nvidia-ml-py3 && pip install -U nvidia-ml-py``.

    Sources: https://pypi.org/project/pynvml/ (deprecation notice) ; https://pypi.org/project/nvidia-ml-py/
    """
    found = {name: packages.version(name) for name in DEPRECATED_BINDINGS if packages.version(name)}
    ev = {"found": found, "nvidia-ml-py": packages.version("nvidia-ml-py")}
    if found:
        return warn("deprecated NVML bindings installed: " + "; ".join(f"{DEPRECATED_BINDINGS[n]} ({n} {v})"
                                                                      for n, v in found.items()), ev,
                    remedy="Remove them and use NVIDIA's nvidia-ml-py.",
                    commands=(f"pip uninstall -y {' '.join(found)}", "pip install -U nvidia-ml-py"))
    if ev["nvidia-ml-py"]:
        return passed(f"NVML bindings from nvidia-ml-py {ev['nvidia-ml-py']}; no deprecated distribution", ev)
    return passed("no deprecated NVML bindings (pynvml, nvidia-ml-py3) installed", ev)


@check("health.dcgm", "DCGM's quick diagnostic passes",
       settings={"dcgm": Setting(bool, False, "run dcgmi diag -r 1 -j where DCGM is installed", flag="--dcgm")})
def check_dcgm(dcgm: DcgmDiag | None, gpus: tuple[Gpu, ...] | None) -> list[Finding]:
    """``dcgmi diag -r 1 -j`` (with ``check --dcgm``): DCGM's quick deployment diagnostic, folded in.

    Where NVIDIA DCGM is installed, its level-1 diagnostic checks the deployment (driver, permissions,
    persistence, environment, page retirement, ...) in seconds. Each failed test becomes a failure, each
    warning a warning. Without ``--dcgm`` it is not run.

    Sources: https://docs.nvidia.com/datacenter/dcgm/latest/user-guide/dcgm-diagnostics.html
    """
    if dcgm is None:
        if gpus is None:
            return [unknown("the GPUs are unknown and DCGM diagnostics did not run (check --dcgm on the machine)")]
        return [not_applicable("DCGM diagnostics run with check --dcgm")]
    if not dcgm.ran:
        return [unknown(f"dcgmi diag did not run: {dcgm.error}")]
    out: list[Finding] = []
    for test in dcgm.tests:
        subject = f"GPU {test.gpu}" if test.gpu is not None else None
        text = f"DCGM {test.name}" + (f" on {subject}" if subject else "") + (f": {test.info}" if test.info else "")
        if test.status == "fail":
            out.append(fail(text, {"test": test.name, "status": test.status}, remedy="Drain the node and run "
                            "dcgmi diag -r 3 for the full diagnostic.", subject=subject))
        elif test.status == "warn":
            out.append(warn(text, {"test": test.name, "status": test.status}, subject=subject))
    if not out:
        ran = sorted({t.name for t in dcgm.tests})
        if not ran:
            return [unknown("dcgmi diag -r 1 ran but reported no test result llmdoctor could read")]
        out.append(passed(f"dcgmi diag -r 1: {len(ran)} test(s) passed or skipped ({', '.join(ran)})", {"tests": ran}))
    return out
