"""``python -m torch.utils.collect_env`` (torch 1.x to today) and vLLM's ``collect_env.py``.

Traps (pytorch/pytorch#78489; failure catalog, checker notes 2-3):
- "CUDA runtime version" is the ``nvcc`` found on PATH, not torch's CUDA runtime -> toolkit.nvcc_version;
- "cuDNN version" lists libcudnn files found on disk, not what torch loads -> ignored;
- "CUDA used to build PyTorch: None / Could not collect" is ``torch.version.cuda is None``: a CPU build;
- "No CUDA" in the GPU/driver fields: torch saw no CUDA and nvidia-smi failed -> no NVIDIA GPU visible.
"""

from __future__ import annotations

import re

from ._accumulator import Facts
from ._text import known, major_minor, yes_no

NAME = "collect_env"
VLLM = "vllm_collect_env"

_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _./()+-]*?)\s*[:：]\s*(.*)$")
_OLD_TORCH = re.compile(r"^PyTorch version\s+(\d\S*)\s*$", re.I)
_GPU_LINE = re.compile(r"^\s*GPU\s+(\d+)\s*[:：]\s*(.+?)\s*(?:\(UUID:\s*([^)]+)\))?\s*$")
_PIP_LINE = re.compile(r"^\s*\[(pip3?|conda)\]\s+(.+?)\s*$")
_MARKERS = ("is debug build", "cuda used to build pytorch", "rocm used to build pytorch", "gpu models and configuration",
            "nvidia driver version", "cudnn version", "cuda runtime version", "is cuda available",
            "versions of relevant libraries", "version of relevant libraries", "hip runtime version",
            "miopen runtime version", "cuda_module_loading set to", "is xnnpack available")
_VLLM_MARKERS = ("vllm version", "vllm build flags", "gpu topology", "neuron sdk version", "vllm info")


def detect(lines: list[str]) -> bool:
    hits = 0
    for line in lines:
        low = line.strip().lower()
        if any(low.startswith(m) for m in _MARKERS) or _PIP_LINE.match(line):
            hits += 1
            if hits >= 2:
                return True
    return False


def detect_vllm(lines: list[str]) -> bool:
    return any(line.strip().lower().startswith(_VLLM_MARKERS) for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    torch, host, py, drv = facts.torch, facts.host, facts.python, facts.driver
    put = facts.put
    in_gpu_list = False
    in_env = False
    saw = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        low = stripped.lower()
        if not stripped:
            in_gpu_list = False
            continue
        if set(stripped) <= {"="}:
            continue
        if low in ("environment variables", "environment variables:"):
            in_env = True
            continue
        if in_env:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", stripped)
            if m:
                facts.add_env(m.group(1), m.group(2))
                continue
            if low.endswith("info") or ":" in stripped:
                in_env = False
        m = _PIP_LINE.match(line)
        if m:
            _package_line(m.group(1), m.group(2), facts)
            saw = True
            continue
        gm = _GPU_LINE.match(line)
        if gm and in_gpu_list:
            g = facts.gpu(int(gm.group(1)))
            put(g, "name", gm.group(2))
            if gm.group(3):
                put(g, "uuid", gm.group(3).strip())
            continue
        m = _OLD_TORCH.match(stripped)
        if m:
            put(torch, "version", m.group(1))
            saw = True
            continue
        m = _KEY.match(line)
        if not m:
            continue
        key, value = m.group(1).strip().lower(), m.group(2).strip()
        if key == "pytorch version":
            saw = True
            if known(value) is None:
                put(torch, "installed", False)
            else:
                put(torch, "version", value.split()[0])
        elif key == "is debug build":
            put(torch, "debug", yes_no(value))
        elif key == "cuda used to build pytorch":
            saw = True
            v = known(value)
            if "cuda" not in torch:
                torch["cuda"] = major_minor(v) if v else None
        elif key == "rocm used to build pytorch":
            v = known(value)
            if v:
                put(torch, "hip", v.split("-")[0])
        elif key == "is cuda available":
            put(torch, "cuda_available", yes_no(value))
        elif key == "cuda runtime version":
            # the nvcc on PATH (collect_env runs `nvcc --version`), NOT torch's CUDA runtime
            v = known(value)
            if v and major_minor(v):
                put(facts.toolkit, "nvcc_version", major_minor(v))
                put(facts.toolkit, "nvcc_path", "nvcc")
                put(facts.toolkit, "nvcc_source", "PATH")
        elif key == "gpu models and configuration":
            saw = True
            if value.strip().lower() == "no cuda":
                facts.no_gpu = True
            in_gpu_list = True
            gm = _GPU_LINE.match(value)
            if gm:
                put(facts.gpu(int(gm.group(1))), "name", gm.group(2))
            elif known(value) and not value.lower().startswith("could not"):
                put(facts.gpu(0), "name", value)  # a single GPU printed without "GPU 0:"
        elif key == "nvidia driver version":
            v = known(value)
            if v and re.match(r"\d+\.\d+", v):
                put(drv, "version", v.split()[0])
            elif value.strip().lower() == "no cuda":
                facts.no_gpu = True
        elif key == "os":
            _os(value, facts)
        elif key == "python version":
            v = re.match(r"(\d+\.\d+(?:\.\d+)?)", value)
            if v:
                put(py, "version", v.group(1))
        elif key == "python platform":
            _platform(value, facts)
        elif key == "cpu(s)" and value.isdigit():
            put(host, "cpu_count", int(value))
        elif key == "vllm version":
            v = known(value)
            if v:
                facts.add_package("vllm", v.split()[0], None)
    if saw:
        facts.saw(NAME)


def _package_line(kind: str, rest: str, facts: Facts) -> None:
    installer = "conda" if kind == "conda" else "pip"
    if "==" in rest:
        name, _, version = rest.partition("==")
        facts.add_package(name.strip(), version.strip().split()[0] if version.strip() else None, installer)
        return
    parts = rest.split()
    if len(parts) >= 2 and re.match(r"\d", parts[1]):
        from .pip import conda_row
        conda_row(parts, facts)


def _os(value: str, facts: Facts) -> None:
    v = known(value)
    if not v:
        return
    m = re.match(r"(.*?)\s*\((x86_64|aarch64|arm64|ppc64le|AMD64|64-bit|32-bit)\)\s*$", v)
    release = m.group(1) if m else v
    if m and m.group(2) not in ("64-bit", "32-bit"):
        facts.put(facts.host, "arch", m.group(2))
    low = release.lower()
    system = "Windows" if "windows" in low else "Darwin" if ("mac" in low or "darwin" in low) else "Linux"
    facts.put(facts.host, "os", system)
    facts.put(facts.host, "os_release", release)
    if system == "Windows":
        facts.put(facts.driver, "platform", "windows")


def _platform(value: str, facts: Facts) -> None:
    m = re.match(r"(Linux|Windows|macOS|Darwin)-(.+?)-(x86_64|aarch64|arm64|AMD64|ppc64le)", value.strip())
    if not m:
        return
    system = {"macOS": "Darwin"}.get(m.group(1), m.group(1))
    facts.put(facts.host, "os", system)
    facts.put(facts.host, "arch", m.group(3))
    if system == "Linux":
        kernel = m.group(2)
        facts.put(facts.host, "kernel", kernel)
        wsl = "microsoft" in kernel.lower() or "wsl" in kernel.lower()
        facts.put(facts.host, "in_wsl", wsl)
        if wsl:
            # under WSL2 the driver is the Windows host driver (Windows version numbering)
            facts.put(facts.driver, "platform", "windows")
    elif system == "Windows":
        facts.put(facts.driver, "platform", "windows")
