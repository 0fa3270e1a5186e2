"""DeepSpeed's ``ds_report``: 'name ..... value' lines; the only common dump that prints /dev/shm."""

from __future__ import annotations

import re

from ._accumulator import Facts
from ..data import major_minor_text
from ._text import known, size_bytes

NAME = "ds_report"
_LINE = re.compile(r"^([a-z][a-z ()/._-]*?)\s*\.{3,}\s*(.*)$", re.I)


def detect(lines: list[str]) -> bool:
    return any("DeepSpeed general environment info" in line or "DeepSpeed C++/CUDA extension op report" in line
               for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    for line in lines:
        m = _LINE.match(line.strip())
        if m:
            _read_item(m.group(1).strip().lower(), m.group(2).strip(), facts)
    facts.saw(NAME)


def _read_item(key: str, value: str, facts: Facts) -> None:
    if key.startswith("torch "):
        _read_torch_item(key, value, facts)
    elif key == "nvcc version":
        _read_nvcc_version(value, facts)
    elif key == "deepspeed info":
        _read_deepspeed_info(value, facts)
    elif key.startswith("shared memory"):
        facts.put(facts.host, "shm_total", size_bytes(value))


def _read_torch_item(key: str, value: str, facts: Facts) -> None:
    if key == "torch version" and known(value):
        facts.put(facts.torch, "version", value.split()[0])
        facts.add_package("torch", value.split()[0])
    elif key == "torch cuda version":
        _read_torch_cuda_version(value, facts)
    elif key == "torch hip version":
        v = known(value)
        if v:
            facts.put(facts.torch, "hip", v)
    elif key == "torch install path":
        p = re.findall(r"'([^']+)'", value)
        if p:
            facts.put(facts.torch, "file", p[0].rstrip("/\\") + "/__init__.py")


def _read_torch_cuda_version(value: str, facts: Facts) -> None:
    v = known(value)
    if "cuda" not in facts.torch and (v is None or major_minor_text(v, anywhere=True)):
        facts.torch["cuda"] = major_minor_text(v, anywhere=True) if v else None


def _read_nvcc_version(value: str, facts: Facts) -> None:
    if major_minor_text(value, anywhere=True) and "[fail]" not in value.lower():
        facts.put(facts.toolkit, "nvcc_version", major_minor_text(value, anywhere=True))
        facts.put(facts.toolkit, "nvcc_path", "nvcc")
        facts.put(facts.toolkit, "nvcc_source", "CUDA_HOME")
    elif "cuda_home" in value.lower():
        facts.add_error(f"ds_report: nvcc version {value}")


def _read_deepspeed_info(value: str, facts: Facts) -> None:
    v = value.split(",")[0].strip()
    if re.match(r"\d", v):
        facts.add_package("deepspeed", v)
