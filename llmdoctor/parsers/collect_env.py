"""``python -m torch.utils.collect_env`` (torch 1.x to today) and vLLM's ``collect_env.py``.

Traps (pytorch/pytorch#78489; failure catalog, checker notes 2-3):
- "CUDA runtime version" is the ``nvcc`` found on PATH, not torch's CUDA runtime -> toolkit.nvcc_version;
- "cuDNN version" lists libcudnn files found on disk, not what torch loads -> ignored;
- "CUDA used to build PyTorch: None / Could not collect" is ``torch.version.cuda is None``: a CPU build;
- "No CUDA" in the GPU/driver fields: torch saw no CUDA and nvidia-smi failed -> no NVIDIA GPU visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ._accumulator import Facts
from ..data import major_minor_text
from ._text import known, whole, yes_no

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


@dataclass
class _State:
    """Where the line loop is: inside the GPU list / the environment-variable block; whether a torch field was seen."""

    in_gpu_list: bool = False
    in_env: bool = False
    saw: bool = False


def parse(lines: list[str], facts: Facts) -> None:
    state = _State()
    for line in lines:
        _line(line, facts, state)
    if state.saw:
        facts.saw(NAME)


def _line(line: str, facts: Facts, state: _State) -> None:
    stripped = line.strip()
    if not stripped:
        state.in_gpu_list = False
        return
    if set(stripped) <= {"="}:
        return
    if _env_line(stripped, facts, state):
        return
    m = _PIP_LINE.match(line)
    if m:
        _package_line(m.group(1), m.group(2), facts)
        state.saw = True
        return
    gm = _GPU_LINE.match(line)
    if gm and state.in_gpu_list:
        _gpu_line(gm, facts)
        return
    m = _OLD_TORCH.match(stripped)
    if m:
        facts.put(facts.torch, "version", m.group(1))
        state.saw = True
        return
    m = _KEY.match(line)
    if m:
        key, value = m.group(1).strip().lower(), m.group(2).strip()
        handler = _FIELDS.get(key)
        if handler is not None:
            handler(value, facts, state)


def _env_line(stripped: str, facts: Facts, state: _State) -> bool:
    """The "Environment Variables" block of vLLM's collect_env; True when the line was one of its variables."""
    low = stripped.lower()
    if low in ("environment variables", "environment variables:"):
        state.in_env = True
        return True
    if not state.in_env:
        return False
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", stripped)
    if m:
        facts.add_env(m.group(1), m.group(2))
        return True
    if low.endswith("info") or ":" in stripped:
        state.in_env = False
    return False


def _gpu_line(gm: re.Match[str], facts: Facts) -> None:
    g = facts.gpu(whole(gm.group(1)))
    facts.put(g, "name", gm.group(2))
    if gm.group(3):
        facts.put(g, "uuid", gm.group(3).strip())


def _torch_version(value: str, facts: Facts, state: _State) -> None:
    state.saw = True
    if known(value) is None:
        facts.put(facts.torch, "installed", False)
    else:
        facts.put(facts.torch, "version", value.split()[0])


def _debug(value: str, facts: Facts, state: _State) -> None:
    facts.put(facts.torch, "debug", yes_no(value))


def _torch_cuda(value: str, facts: Facts, state: _State) -> None:
    state.saw = True
    v = known(value)
    if "cuda" not in facts.torch:
        facts.torch["cuda"] = major_minor_text(v, anywhere=True) if v else None


def _rocm(value: str, facts: Facts, state: _State) -> None:
    v = known(value)
    if v:
        facts.put(facts.torch, "hip", v.split("-")[0])


def _cuda_available(value: str, facts: Facts, state: _State) -> None:
    facts.put(facts.torch, "cuda_available", yes_no(value))


def _nvcc(value: str, facts: Facts, state: _State) -> None:
    # the nvcc on PATH (collect_env runs `nvcc --version`), NOT torch's CUDA runtime
    v = known(value)
    if v and major_minor_text(v, anywhere=True):
        facts.put(facts.toolkit, "nvcc_version", major_minor_text(v, anywhere=True))
        facts.put(facts.toolkit, "nvcc_path", "nvcc")
        facts.put(facts.toolkit, "nvcc_source", "PATH")


def _gpu_models(value: str, facts: Facts, state: _State) -> None:
    state.saw = True
    if value.strip().lower() == "no cuda":
        facts.no_gpu = True
    state.in_gpu_list = True
    gm = _GPU_LINE.match(value)
    if gm:
        facts.put(facts.gpu(whole(gm.group(1))), "name", gm.group(2))
    elif known(value) and not value.lower().startswith("could not"):
        facts.put(facts.gpu(0), "name", value)  # a single GPU printed without "GPU 0:"


def _driver(value: str, facts: Facts, state: _State) -> None:
    v = known(value)
    if v and re.match(r"\d+\.\d+", v):
        facts.put(facts.driver, "version", v.split()[0])
    elif value.strip().lower() == "no cuda":
        facts.no_gpu = True


def _python(value: str, facts: Facts, state: _State) -> None:
    v = re.match(r"(\d+\.\d+(?:\.\d+)?)", value)
    if v:
        facts.put(facts.python, "version", v.group(1))


def _cpus(value: str, facts: Facts, state: _State) -> None:
    if value.isdigit():
        facts.put(facts.host, "cpu_count", whole(value))


def _vllm(value: str, facts: Facts, state: _State) -> None:
    v = known(value)
    if v:
        facts.add_package("vllm", v.split()[0], None)


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


_FIELDS: dict[str, Callable[[str, Facts, _State], None]] = {
    "pytorch version": _torch_version,
    "is debug build": _debug,
    "cuda used to build pytorch": _torch_cuda,
    "rocm used to build pytorch": _rocm,
    "is cuda available": _cuda_available,
    "cuda runtime version": _nvcc,
    "gpu models and configuration": _gpu_models,
    "nvidia driver version": _driver,
    "os": lambda value, facts, state: _os(value, facts),
    "python version": _python,
    "python platform": lambda value, facts, state: _platform(value, facts),
    "cpu(s)": _cpus,
    "vllm version": _vllm,
}
