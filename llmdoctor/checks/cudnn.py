"""cuDNN: the one torch actually loads, and whether it suits torch's CUDA and the GPUs."""

from __future__ import annotations

import os
from typing import Any, Mapping  # noqa: UP035 (the engine compares with the snapshot's typing.Mapping)

from .. import data
from ..engine import check
from ..facts.derived import decode_cudnn, gpu_cc, gpu_label, is_cpu_torch
from ..results import Finding, not_applicable, passed, unknown, warn
from ..snapshot import Gpu, Torch

# cuDNN 9.17.0's support matrix lists compute capability 7.5 to 12.0 only (Maxwell, Pascal and Volta
# gone); 9.10.2 still lists 5.0-12.0.  Source: NVIDIA cuDNN support matrix,
# https://docs.nvidia.com/deeplearning/cudnn/backend/latest/reference/support-matrix.html
CUDNN_DROPPED_PRE_TURING = (9, 17)


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
    https://docs.nvidia.com/deeplearning/cudnn/backend/latest/reference/support-matrix.html;
    cudnn_version.h (version encoding).
    """
    if torch.installed and torch.import_error:
        return unknown("torch fails to import (see torch.build), so the cuDNN it loads is unknown")
    if not torch.installed or is_cpu_torch(torch.version, torch.cuda, torch.hip):
        return not_applicable("no CUDA build of torch is installed here (see torch.build)")
    if torch.cudnn is None:
        return unknown("torch did not report a cuDNN version")
    major, minor, patch = decode_cudnn(int(torch.cudnn))
    text = f"{major}.{minor}.{patch}"
    lib = (torch.loaded_libraries or {}).get("cudnn")
    evidence = {"cudnn": text, "cudnn_raw": torch.cudnn, "torch_cuda": torch.cuda, "loaded_from": lib}
    findings = loaded_from_ld_library_path(lib, torch, env, evidence) if lib else []
    if (major, minor) >= CUDNN_DROPPED_PRE_TURING:
        findings += gpus_below_turing(text, gpus, evidence)
    if not findings:
        findings.append(passed(f"torch loads cuDNN {text}" + (f" from {lib}" if lib else ""), evidence))
    return findings


def loaded_from_ld_library_path(lib: str, torch: Torch, env: Mapping[str, str] | None,
                                evidence: dict[str, Any]) -> list[Finding]:
    """A libcudnn outside torch's wheel, from a folder on LD_LIBRARY_PATH, shadows the one torch ships."""
    lib_dir = os.path.dirname(lib)
    bundled = "site-packages" in lib or "dist-packages" in lib or bool(
        torch.file and lib.startswith(os.path.dirname(os.path.dirname(torch.file))))
    if bundled:
        return []
    if env is None:
        return [unknown(f"torch loads cuDNN from {lib_dir}, outside its wheel; whether that folder comes "
                        f"from LD_LIBRARY_PATH is unknown (the environment was not read)", evidence)]
    ld_dirs = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    if not any(os.path.normpath(d) == os.path.normpath(lib_dir) for d in ld_dirs):
        return []
    kept = [d for d in ld_dirs if os.path.normpath(d) != os.path.normpath(lib_dir)]
    command = f"export LD_LIBRARY_PATH={':'.join(kept)}" if kept else "unset LD_LIBRARY_PATH"
    return [warn(f"torch loads cuDNN from {lib_dir}, a folder on LD_LIBRARY_PATH, instead of the "
                 f"cuDNN its wheel ships: a version mismatch makes cuDNN calls fail",
                 evidence, remedy=f"Remove {lib_dir} from LD_LIBRARY_PATH.", commands=(command,))]


def gpus_below_turing(text: str, gpus: tuple[Gpu, ...] | None, evidence: dict[str, Any]) -> list[Finding]:
    """cuDNN >= 9.17 supports compute capability 7.5 and newer only."""
    if gpus is None:
        return [unknown(f"cuDNN {text} supports compute capability 7.5 and newer only; the GPUs are unknown, so "
                        f"whether they qualify is unknown", evidence)]
    out = []
    for gpu in gpus:
        cc, _ = gpu_cc(gpu)
        mm = data.major_minor(cc)
        if cc and mm is not None and mm < (7, 5):
            out.append(warn(f"{gpu_label(gpu)} has compute capability {cc}, but cuDNN {text} supports "
                            f"7.5 and newer only: convolutions and cuDNN attention will fail",
                            {**evidence, "compute_capability": cc},
                            remedy="Use a torch build for CUDA 12.6 (it ships an older cuDNN).",
                            commands=("pip install torch --index-url https://download.pytorch.org/whl/cu126",),
                            subject=gpu_label(gpu)))
    return out
