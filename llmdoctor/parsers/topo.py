"""``nvidia-smi topo -m`` (also inside vLLM's collect_env as "GPU Topology")."""

from __future__ import annotations

import re

from ._accumulator import MAX_GPUS, Facts
from ._text import whole

NAME = "nvidia_smi_topo"
# nvidia-smi's legend -> NVML topology level names used in the snapshot
LEVELS = {"PIX": "SINGLE", "PXB": "MULTIPLE", "PHB": "HOSTBRIDGE", "NODE": "NODE", "SYS": "SYSTEM", "SOC": "SYSTEM"}
# the header row: "GPU0 GPU1 ... CPU Affinity" (indented by nvidia-smi; at column 0 in old vLLM dumps)
_HEAD = re.compile(r"^\s*GPU0\s+(?:GPU1|NIC0|CPU Affinity)\b")


def detect(lines: list[str]) -> bool:
    return any(_HEAD.match(line) for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    columns: list[str] | None = None
    rows = 0
    for line in lines:
        if _HEAD.match(line):
            columns = re.findall(r"GPU\d+|NIC\d+", line)
            continue
        if columns is None:
            continue
        m = re.match(r"^\s*GPU(\d+)\s+(.*)$", line)
        if not m:
            if line.strip() and not line.startswith(" ") and not line.startswith("NIC"):
                columns = None  # table ended
            continue
        a = whole(m.group(1))
        if a is None or a >= MAX_GPUS:
            continue
        rows += 1
        facts.set_gpu_count(a + 1)
        cells = m.group(2).split()
        for col, cell in zip(columns, cells):
            if not col.startswith("GPU"):
                continue
            b = whole(col[3:])
            if b is None or b >= MAX_GPUS:
                continue
            facts.set_gpu_count(b + 1)
            if a >= b:
                continue
            nv = re.fullmatch(r"NV(\d+)", cell)
            if nv:
                facts.links.setdefault((a, b), {"level": "NVLINK", "nvlinks": whole(nv.group(1))})
            elif cell in LEVELS:
                facts.links.setdefault((a, b), {"level": LEVELS[cell]})
    if rows:
        facts.saw(NAME)
