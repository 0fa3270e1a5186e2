"""cuDNN: the one torch actually loads, and whether it suits torch's CUDA and the GPUs."""

from __future__ import annotations

import os
from typing import Mapping

from .. import data
from ..engine import check
from ..facts import derived as F
from ..results import Finding, not_applicable, passed, unknown, warn
from ..snapshot import Gpu, Torch

# cuDNN 9.17.0's support matrix lists compute capability 7.5 to 12.0 only (Maxwell, Pascal and Volta
# gone); 9.10.2 still lists 5.0-12.0.  Source: NVIDIA cuDNN support matrix (reference_facts.md 5).
CUDNN_DROPPED_PRE_TURING = (9, 17)


def decode_cudnn(version: int) -> tuple[int, int, int]:
    """torch.backends.cudnn.version(): 9.x = M*10000+m*100+p (90100), <= 8.x = M*1000+m*100+p (8902)."""
    if version >= 10000:
        return version // 10000, (version % 10000) // 100, version % 100
    return version // 1000, (version % 1000) // 100, version % 100


@check("cudnn.version", "cuDNN torch loads suits its CUDA and the GPUs", known_errors=True)
def check_cudnn(torch: Torch, gpus: tuple[Gpu, ...] | None, env: Mapping[str, str] | None) -> list[Finding] | Finding:
    """Which cuDNN does torch load, and does it suit torch's CUDA and these GPUs?

    pip wheels of torch bring cuDNN (nvidia-cudnn-cu12/13) and find it through their rpath.  A system
    libcudnn earlier on LD_LIBRARY_PATH can be loaded instead: "cuDNN version incompatibility: PyTorch
    was compiled against (8, 3, 2) but found runtime version (8, 0, 3)".  This check uses the cuDNN
    torch reports (`torch.backends.cudnn.version()`) and the library actually mapped into the probe
    process, never the files found on disk (collect_env's "cuDNN version" lists files on disk).

    It warns when the loaded libcudnn is not the one shipped with torch and its folder comes from
    LD_LIBRARY_PATH, and when cuDNN >= 9.17 meets a GPU below compute capability 7.5 (the 9.17 support
    matrix dropped Maxwell, Pascal and Volta).

    Fix: remove the system cuDNN folder from LD_LIBRARY_PATH (or `pip install --force-reinstall
    nvidia-cudnn-cu12`).

    Sources: pytorch/pytorch#80637 and PR #80877; NVIDIA cuDNN support matrix (9.10.2, 9.17.0);
    cudnn_version.h (version encoding); failure catalog G1.
    """
    t = torch
    if t.installed and t.import_error:
        return unknown("torch fails to import (see torch.build), so the cuDNN it loads is unknown")
    if not t.installed or F.is_cpu_torch(t.version, t.cuda, t.hip):
        return not_applicable("no CUDA build of torch is installed here (see torch.build)")
    if t.cudnn is None:
        return unknown("torch did not report a cuDNN version")
    major, minor, patch = decode_cudnn(int(t.cudnn))
    text = f"{major}.{minor}.{patch}"
    lib = (t.loaded_libraries or {}).get("cudnn")
    evidence = {"cudnn": text, "cudnn_raw": t.cudnn, "torch_cuda": t.cuda, "loaded_from": lib}
    findings: list[Finding] = []
    if lib:
        lib_dir = os.path.dirname(lib)
        bundled = "site-packages" in lib or "dist-packages" in lib or (t.file and lib.startswith(os.path.dirname(os.path.dirname(t.file))))
        if not bundled and env is None:
            findings.append(unknown(f"torch loads cuDNN from {lib_dir}, outside its wheel; whether that folder comes "
                                    f"from LD_LIBRARY_PATH is unknown (the environment was not read)", evidence))
        ld_dirs = [d for d in (env or {}).get("LD_LIBRARY_PATH", "").split(":") if d]
        if not bundled and any(os.path.normpath(d) == os.path.normpath(lib_dir) for d in ld_dirs):
            findings.append(warn(f"torch loads cuDNN from {lib_dir}, a folder on LD_LIBRARY_PATH, instead of the "
                                 f"cuDNN its wheel ships: a version mismatch makes cuDNN calls fail",
                                 evidence, remedy=f"Remove {lib_dir} from LD_LIBRARY_PATH."))
    if (major, minor) >= CUDNN_DROPPED_PRE_TURING:
        for gpu in gpus or ():
            cc, _ = F.gpu_cc(gpu)
            if cc and data.major_minor(cc) < (7, 5):
                findings.append(warn(f"{F.gpu_label(gpu)} has compute capability {cc}, but cuDNN {text} supports "
                                     f"7.5 and newer only: convolutions and cuDNN attention will fail",
                                     {**evidence, "compute_capability": cc},
                                     remedy="Use a torch build for CUDA 12.6 (it ships an older cuDNN), e.g. "
                                            "pip install torch --index-url https://download.pytorch.org/whl/cu126",
                                     subject=F.gpu_label(gpu)))
    if not findings:
        findings.append(passed(f"torch loads cuDNN {text}" + (f" from {lib}" if lib else ""), evidence))
    return findings
