"""CUDA toolkit probe: which nvcc a build would use, its version, and every /usr/local/cuda-* install."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Mapping

from ..snapshot import CudaInstall, Toolkit

_NVCC_RELEASE = re.compile(r"release (\d+\.\d+)")


def parse_nvcc_version(text: str) -> str | None:
    """'Cuda compilation tools, release 12.1, V12.1.105' -> '12.1'."""
    m = _NVCC_RELEASE.search(text)
    return m.group(1) if m else None


def find_nvcc(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """The nvcc that torch.utils.cpp_extension would use: CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    for var in ("CUDA_HOME", "CUDA_PATH"):
        home = env.get(var)
        if home:
            candidate = Path(home) / "bin" / "nvcc"
            if candidate.is_file():
                return str(candidate), var
    on_path = shutil.which("nvcc", path=env.get("PATH"))
    if on_path:
        return on_path, "PATH"
    default = Path("/usr/local/cuda/bin/nvcc")
    if default.is_file():
        return str(default), "default"
    return None, None


def install_version(path: Path) -> str | None:
    try:
        data = json.loads((path / "version.json").read_text())
        version = data.get("cuda", {}).get("version")
        if version:
            return ".".join(version.split(".")[:2])
    except (OSError, ValueError, AttributeError):
        pass
    try:
        m = re.search(r"CUDA Version (\d+\.\d+)", (path / "version.txt").read_text())
        if m:
            return m.group(1)
    except OSError:
        pass
    m = re.search(r"cuda-(\d+\.\d+)$", path.name)
    return m.group(1) if m else None


def probe_toolkit(timeout: float = 10.0, environ: dict[str, str] | None = None,
                  search: str = "/usr/local") -> Toolkit:
    env = os.environ if environ is None else environ
    nvcc, source = find_nvcc(env)
    version = None
    if nvcc:
        try:
            from .target_runner import run_group

            _rc, out = run_group([nvcc, "--version"], timeout)
            version = parse_nvcc_version(out)
        except (OSError, subprocess.TimeoutExpired):
            version = None
    installs = []
    base = Path(search)
    try:
        candidates = sorted(p for p in base.glob("cuda-*") if p.is_dir())
    except OSError:
        candidates = []
    for p in candidates:
        installs.append(CudaInstall(path=str(p), version=install_version(p)))
    return Toolkit(
        nvcc_path=nvcc,
        nvcc_version=version,
        nvcc_source=source,
        cuda_home=env.get("CUDA_HOME") or env.get("CUDA_PATH"),
        installs=tuple(installs),
    )
