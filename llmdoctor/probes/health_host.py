"""Host-side health probes: XIDs in the kernel log, the NVSwitch fabric manager, and ``dcgmi diag``.

Each command is time-boxed; a command that is missing, refused or slow is recorded as what could not be
read (``XidLog.unread``, ``FabricManager.detail``, ``DcgmDiag.error``), never raised.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from typing import Any, Iterable

from ..snapshot import DcgmDiag, DcgmTest, FabricManager, XidEvent, XidLog

# "NVRM: Xid (PCI:0000:cb:00): 13, pid='<unknown>', name=<unknown>, Graphics SM Warp Exception ..."
from ..facts.health import MAX_LINE, XID_LINE, parse_xid_lines  # noqa: F401  (pure: shared with the checks)
KERNEL_LOG_COMMANDS = (("dmesg",), ("journalctl", "-k", "-q", "--no-pager", "-o", "short"))


def _run(argv: tuple[str, ...], timeout: float) -> tuple[int | None, str, str]:
    """(exit code, stdout, stderr); exit code None when the command is missing or timed out."""
    if shutil.which(argv[0]) is None:
        return None, "", f"{argv[0]} not found"
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return None, "", f"{argv[0]} timed out after {timeout:g}s"
    except OSError as exc:
        return None, "", f"{argv[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout, proc.stderr.strip()


def _fake_scenario() -> dict[str, Any] | None:
    """The fake-NVML scenario, when one is set: it also stands for the host (kernel log, fabric manager)."""
    path = os.environ.get("LLMDOCTOR_FAKE_NVML")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def probe_kernel_xids(timeout: float = 5.0) -> XidLog:
    """XIDs from the kernel ring buffer (dmesg), else the journal (journalctl -k)."""
    fake = _fake_scenario()
    if fake is not None:
        if "kernel_log" not in fake:
            return XidLog(unread=("kernel log: not in the fake scenario",))
        return XidLog(events=parse_xid_lines(fake["kernel_log"]), sources=("fake kernel log",))
    unread = []
    for argv in KERNEL_LOG_COMMANDS:
        code, out, err = _run(argv, timeout)
        if code == 0:
            return XidLog(events=parse_xid_lines(out.splitlines()), sources=(" ".join(argv),))
        unread.append(f"{' '.join(argv)}: {(err.splitlines() or ['exit code %s' % code])[-1]}")
    return XidLog(unread=tuple(unread))


def merge_xid_logs(*logs: XidLog | None) -> XidLog:
    events: list[XidEvent] = []
    sources: list[str] = []
    unread: list[str] = []
    for log in logs:
        if log is None:
            continue
        events.extend(log.events)
        sources.extend(log.sources)
        unread.extend(log.unread)
    return XidLog(events=tuple(events), sources=tuple(sources), unread=tuple(unread))


# --------------------------------------------------------------------------- fabric manager

FM_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


def count_nvswitches(root: str = "/") -> int:
    """NVSwitch devices the driver exposes (0 on systems without NVSwitch)."""
    devices = os.path.join(root, "proc/driver/nvidia-nvswitch/devices")
    if os.path.isdir(devices):
        return len(os.listdir(devices))
    return len(glob.glob(os.path.join(root, "dev/nvidia-nvswitch[0-9]*")))


def probe_fabric_manager(timeout: float = 3.0, root: str = "/") -> FabricManager:
    fake = _fake_scenario()
    if fake is not None:
        fm = fake.get("fabric_manager") or {}
        return FabricManager(nvswitches=fm.get("nvswitches", 0), service_active=fm.get("service_active"),
                             version=fm.get("version"), detail=fm.get("detail"))
    switches = count_nvswitches(root)
    if switches == 0 and shutil.which("nv-fabricmanager") is None:
        return FabricManager(nvswitches=0)
    details = []
    code, out, err = _run(("systemctl", "is-active", "nvidia-fabricmanager"), timeout)
    state = out.strip()
    active = {"active": True, "inactive": False, "failed": False, "activating": False,
              "deactivating": False}.get(state)
    if active is None:
        details.append(f"service state unknown ({err or state or 'no answer'})")
    code, out, err = _run(("nv-fabricmanager", "--version"), timeout)
    match = FM_VERSION.search(out) if code == 0 else None
    if match is None:
        details.append(f"version unknown ({err or 'nv-fabricmanager --version said nothing'})")
    return FabricManager(nvswitches=switches, service_active=active, version=match.group(1) if match else None,
                         detail="; ".join(details) or None)


# --------------------------------------------------------------------------- DCGM


def probe_dcgm(timeout: float = 180.0) -> DcgmDiag:
    """``dcgmi diag -r 1 -j`` (the quick level), folded into tests and their verdicts."""
    code, out, err = _run(("dcgmi", "diag", "-r", "1", "-j"), timeout)
    if code is None:
        return DcgmDiag(ran=False, error=err)
    try:
        doc = json.loads(out)
    except ValueError:
        last = (err or out).strip().splitlines()
        return DcgmDiag(ran=False, error=f"dcgmi exited {code}: {last[-1] if last else 'no output'}")
    return DcgmDiag(ran=True, tests=tuple(parse_dcgm(doc)))


def parse_dcgm(doc: Any) -> list[DcgmTest]:
    """Every test result in a ``dcgmi diag -j`` document (DCGM 3 and 4 layouts: objects with name + results)."""
    found: list[DcgmTest] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("name"), str) and isinstance(node.get("results"), list):
            found.extend(_dcgm_results(node["name"], node["results"]))
            continue
        stack.extend(reversed(list(node.values())))
    return found


def _dcgm_results(name: str, results: list[Any]) -> list[DcgmTest]:
    out = []
    for result in results:
        if not isinstance(result, dict):
            continue
        gpu = result.get("gpu_id", result.get("entity_id"))
        info = result.get("info") or result.get("warnings") or result.get("error")
        if isinstance(info, list):
            info = "; ".join(str(i.get("message", i)) if isinstance(i, dict) else str(i) for i in info)
        out.append(DcgmTest(name=name, status=str(result.get("status", "unknown")).lower(),
                            info=str(info)[:MAX_LINE] if info else None,
                            gpu=int(gpu) if isinstance(gpu, (int, str)) and str(gpu).isdigit() else None))
    return out
