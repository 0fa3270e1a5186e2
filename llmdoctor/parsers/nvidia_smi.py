"""``nvidia-smi`` (the default table, old and new layouts, Linux and Windows), ``nvidia-smi -q`` and ``-L``.

"CUDA Version" in its header is the driver's maximum CUDA, not an installed toolkit -> driver.cuda_version.
"""

from __future__ import annotations

import re
from typing import Any

from ._accumulator import Facts
from ._text import known, size_bytes, whole, yes_no

TABLE = "nvidia_smi"
QUERY = "nvidia_smi_q"
LIST = "nvidia_smi_l"

_HEADER = re.compile(r"NVIDIA-SMI\s+([\d.]+)\s+Driver Version:\s*([\d.]+)(?:\s+CUDA Version:\s*([\d.]+|N/A))?", re.I)
_ROW = re.compile(r"^\|\s+(\d+)\s+(.+?)\s+(On|Off|WDDM|TCC|N/A)\s*\|\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s")
_MEM = re.compile(r"(\d+)\s*MiB\s*/\s*(\d+)\s*MiB")
_PROC = re.compile(r"^\|\s+(\d+)\s+(?:\S+\s+\S+\s+)?(\d+)\s+(C|G|C\+G|M|M\+C)\s+(.+?)\s+(\d+)\s*MiB\s*\|?$")
_LIST = re.compile(r"^\s*GPU\s+(\d+):\s+(.+?)\s+\(UUID:\s*(GPU-[0-9a-fA-F-]+)\)\s*$")


def _mib(text: str) -> int | None:
    n = whole(text)
    return n * 2**20 if n is not None else None


def detect(lines: list[str]) -> bool:
    return any(_HEADER.search(line) for line in lines)


def detect_q(lines: list[str]) -> bool:
    return any("NVSMI LOG" in line for line in lines) or sum(
        1 for line in lines if re.match(r"^\s*(Product Name|Attached GPUs|GPU UUID)\s+:", line)) >= 2


def detect_l(lines: list[str]) -> bool:
    return any(_LIST.match(line) for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    saw = _read_table(lines, facts)
    _read_gpu_list(lines, facts)
    if saw:
        facts.saw(TABLE)


def _read_table(lines: list[str], facts: Facts) -> bool:
    """The header, the GPU rows and the process list of the default table; whether it was seen."""
    last_gpu = None
    in_procs = False
    saw = False
    for line in lines:
        if _read_header(line, facts):
            saw = True
            continue
        if "Processes:" in line:
            in_procs = True
            continue
        if in_procs:
            _read_process(line, facts)
            continue
        idx = _read_gpu_row(line, facts)
        if idx is not None:
            saw = True
            last_gpu = idx
            continue
        if last_gpu is not None and _read_gpu_detail(line, last_gpu, facts):
            last_gpu = None
    return saw


def _read_header(line: str, facts: Facts) -> bool:
    m = _HEADER.search(line)
    if not m:
        return False
    facts.put(facts.driver, "version", m.group(2))
    cuda = known(m.group(3))
    if cuda:
        facts.put(facts.driver, "cuda_version", cuda)
    return True


def _read_process(line: str, facts: Facts) -> None:
    pm = _PROC.match(line)
    if pm:  # otherwise e.g. "No running processes found"
        g = facts.gpu(whole(pm.group(1)))
        g.setdefault("processes", []).append(
            {"pid": whole(pm.group(2)), "name": pm.group(4).strip(), "used_memory": _mib(pm.group(5))})


def _read_gpu_row(line: str, facts: Facts) -> int | None:
    """The first line of a GPU's block; its index, or None when the line is not one."""
    rm = _ROW.match(line)
    if not rm:
        return None
    idx = whole(rm.group(1))
    if idx is None:
        return None
    g = facts.gpu(idx)
    facts.put(g, "name", rm.group(2).strip())
    mode = rm.group(3)
    if mode in ("On", "Off"):
        facts.put(g, "persistence_mode", mode == "On")
    elif mode in ("WDDM", "TCC"):
        facts.put(facts.driver, "platform", "windows")
    facts.put(g, "pci_bus_id", rm.group(4))
    return idx


def _read_gpu_detail(line: str, idx: int, facts: Facts) -> bool:
    """A further line of GPU ``idx``'s block (memory, MIG mode); whether the block ends here."""
    mm = _MEM.search(line)
    if mm:
        g = facts.gpu(idx)
        facts.put(g, "memory_used", _mib(mm.group(1)))
        facts.put(g, "memory_total", _mib(mm.group(2)))
        return False
    mig = re.search(r"\|\s+(Enabled|Disabled)\s*\|\s*$", line)
    if mig and "MIG" not in line:
        facts.put(facts.gpu(idx), "mig_mode", mig.group(1) == "Enabled")
    return line.startswith("+") or line.startswith("|=")


def _read_gpu_list(lines: list[str], facts: Facts) -> None:
    for line in lines:
        lm = _LIST.match(line)
        if lm:
            g = facts.gpu(whole(lm.group(1)))
            facts.put(g, "name", lm.group(2))
            facts.put(g, "uuid", lm.group(3))
            facts.saw(LIST)


def parse_q(lines: list[str], facts: Facts) -> None:
    """``nvidia-smi -q``: 'Key : value' with indentation; one block per GPU ('GPU 00000000:07:00.0')."""
    idx = -1
    section: list[tuple[int, str]] = []
    saw = False
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        m = re.match(r"^GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s*$", line.strip())
        if m and indent == 0:
            idx += 1
            facts.put(facts.gpu(idx), "pci_bus_id", m.group(1))
            section = []
            continue
        kv = re.match(r"^\s*([^:]+?)\s+:\s*(.*)$", line)
        while section and section[-1][0] >= indent:
            section.pop()
        if not kv:
            section.append((indent, line.strip()))
            continue
        path = "/".join(s for _, s in section)
        if _read_q_item(kv.group(1).strip(), kv.group(2).strip(), indent, path, idx, facts):
            saw = True
    if saw:
        facts.saw(QUERY)


def _read_q_item(key: str, value: str, indent: int, path: str, idx: int, facts: Facts) -> bool:
    """One 'Key : value' of ``nvidia-smi -q``; whether it shows the format was seen."""
    if key == "Driver Version" and indent == 0:
        facts.put(facts.driver, "version", value)
        return True
    if key == "CUDA Version" and indent == 0:
        if known(value):
            facts.put(facts.driver, "cuda_version", value)
        return False
    if key == "Attached GPUs" and value.isdigit():
        facts.set_gpu_count(whole(value))
        return True
    if idx >= 0:
        return _read_q_gpu_item(facts.gpu(idx), key, value, path, facts)
    return False


def _read_q_gpu_item(g: dict[str, Any], key: str, value: str, path: str, facts: Facts) -> bool:
    """One 'Key : value' inside a GPU's block; whether it was the product name."""
    if key == "Product Name":
        facts.put(g, "name", value)
        return True
    if key == "GPU UUID":
        facts.put(g, "uuid", value)
    elif key == "Persistence Mode":
        facts.put(g, "persistence_mode", yes_no(value))
    elif key == "Current" and path.endswith("MIG Mode"):
        facts.put(g, "mig_mode", yes_no(value))
    elif path.endswith("FB Memory Usage") and key in ("Total", "Used", "Free"):
        facts.put(g, f"memory_{key.lower()}", size_bytes(value))
    elif key == "Driver Model" or (key == "Current" and path.endswith("Driver Model")):
        if value in ("WDDM", "TCC"):
            facts.put(facts.driver, "platform", "windows")
    return False
