"""Environment variables that matter to GPU jobs, allow-listed, with secrets redacted."""

from __future__ import annotations

import os
import re
from typing import Mapping

from ..redact import redact_env

# Prefixes and names that shape CUDA, NCCL, torch and launchers.  Anything else is not recorded.
ALLOWED_PREFIXES = (
    "CUDA_", "NCCL_", "TORCH_", "PYTORCH_", "NVIDIA_", "CUDNN_", "CUBLAS_", "OMP_", "MKL_", "GLOO_", "UCX_",
    "FI_", "SLURM_", "OMPI_", "PMI_", "PMIX_", "TRITON_", "VLLM_", "HF_", "TRANSFORMERS_", "ACCELERATE_",
    "DS_", "BNB_", "XFORMERS_", "NVTE_", "TORCHINDUCTOR_", "TORCHELASTIC_", "NV_", "CONDA_", "LLMDOCTOR_",
)
ALLOWED_NAMES = frozenset({
    "LD_LIBRARY_PATH", "LD_PRELOAD", "PATH", "PYTHONPATH", "VIRTUAL_ENV",
    "MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "NODE_RANK", "ROLE_RANK", "TOKENIZERS_PARALLELISM", "KUBERNETES_SERVICE_HOST", "CC", "CXX",
    "MAX_JOBS", "TF_CPP_MIN_LOG_LEVEL",
})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_allowed(name: str) -> bool:
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def probe_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {
        name: redact_env(name, value)
        for name, value in sorted(environ.items())
        if _NAME.match(name) and is_allowed(name)
    }
