"""``python -m bitsandbytes``: the 0.43+ report and the older "BUG REPORT" with its CUDA path lists."""

from __future__ import annotations

import re

from ._accumulator import Facts

NAME = "bitsandbytes"
_DRIVER_LIBCUDA = re.compile(r"^libcuda\.so(\.\d+)*$")


def not_driver_libcuda(path: str) -> bool:
    """libcuda-injection.so (nsight) and similar: named libcuda* but not the driver's libcuda.so[.N]."""
    base = re.split(r"[\\/]", path)[-1]
    return base.startswith("libcuda") and not base.startswith("libcudart") and not _DRIVER_LIBCUDA.match(base)
_PATH_HEAD = re.compile(r"^\++\s*([A-Z _]*CUDA PATHS|OTHER|BUG REPORT INFORMATION)\s*\++$")


def detect(lines: list[str]) -> bool:
    return any(re.match(r"^=+\s*bitsandbytes v\d", line.strip()) or _PATH_HEAD.match(line.strip())
               or line.startswith("CUDA SETUP:") or line.startswith("COMPILED_WITH_CUDA") for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    in_paths = False
    libs: list[str] = []
    for line in lines:
        s = line.strip()
        m = re.match(r"^=+\s*bitsandbytes v(\d[^\s=]*)", s)
        if m:
            facts.add_package("bitsandbytes", m.group(1))
            continue
        h = _PATH_HEAD.match(s)
        if h:
            in_paths = h.group(1).endswith("CUDA PATHS")
            continue
        if in_paths and (s.startswith("/") or re.match(r"^[A-Za-z]:\\", s)):
            if re.search(r"lib(cuda|cudart)[^/\\]*$", s):
                libs.append(s)
            continue
        m = re.match(r"^PyTorch:\s*(\d\S*)", s)
        if m:
            facts.put(facts.torch, "version", m.group(1))
            facts.add_package("torch", m.group(1))
            continue
        m = re.search(r"PyTorch settings found: CUDA_VERSION=(\d+), Highest Compute Capability: \(?(\d+)[.,]\s*(\d+)", s)
        if m:
            v = m.group(1)
            if "cuda" not in facts.torch:
                facts.torch["cuda"] = f"{v[:-1]}.{v[-1]}" if len(v) >= 2 else v
            facts.put(facts.gpu(0), "compute_capability", f"{m.group(2)}.{m.group(3)}")
            continue
        m = re.search(r"Highest compute capability among GPUs detected:\s*(\d+\.\d+)", s)
        if m:
            facts.put(facts.gpu(0), "compute_capability", m.group(1))
            continue
        m = re.match(r"^torch\.cuda\.is_available\(\):\s*(True|False)", s)
        if m:
            facts.put(facts.torch, "cuda_available", m.group(1) == "True")
            continue
        m = re.match(r"^COMPUTE_CAPABILITIES_PER_GPU\s*=\s*\[(.*)\]", s)
        if m:
            for i, cc in enumerate(re.findall(r"(\d+\.\d+)", m.group(1))):
                facts.put(facts.gpu(i), "compute_capability", cc)
    stray = [p for p in dict.fromkeys(libs) if not_driver_libcuda(p)]
    if stray:
        # what bitsandbytes' CUDA setup would consider: a libcuda that is not the driver's is a known trap
        facts.add_error(f"bitsandbytes CUDA paths list a libcuda that is not the NVIDIA driver's: {', '.join(stray[:5])}")
    facts.saw(NAME)
