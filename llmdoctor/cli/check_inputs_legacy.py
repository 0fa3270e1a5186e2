"""Check inputs that checks do not declare yet (the checks are being migrated to ``Setting(flag=...)``).

Each declaration here is used only while no registered check declares its flag (``declared_flags``
prefers the check's own), so a migrated check takes over its flag without an edit here; delete this
module when every flag below is declared by its check.
"""

from __future__ import annotations

from typing import Any

from ..engine import Setting

DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")

LEGACY_SETTINGS = (
    Setting(str, None, "The dtype the job will use (bf16, fp8, ...): GPUs without it fail.", flag="--dtype",
            choices=DTYPES),
    Setting(bool, False, "Accept verbose NCCL debug logging (NCCL_DEBUG=INFO/TRACE) while debugging.",
            flag="--debug-ok"),
    Setting(str, None, "Model dir / config.json / cached repo id: adds the memory verdict.", flag="--model"),
    Setting(int, 4096, "With --model: tokens per sequence.", flag="--seq-len", requires="--model"),
    Setting(int, 1, "With --model: sequences at once.", flag="--batch", requires="--model"),
    Setting(str, "inference", "With --model: inference | lora | qlora | full.", flag="--mode", requires="--model",
            choices=("inference", "lora", "qlora", "full")),
)

_MODEL_KEYS = ("model", "seq_len", "batch", "mode")


def legacy_options(given: dict[str, Any], undeclared: set[str]) -> dict[str, Any]:
    """The option keys the not-yet-migrated memory check reads, from the flags it does not declare."""
    if "model" not in given or "model" not in undeclared:
        return {}
    from ..model_config import load_model_spec
    from .fit import options_from_cli

    dtype = given.get("dtype") or "bf16"
    fit_dtype = dtype if dtype in ("bf16", "fp16", "fp32", "fp8", "int8") else "bf16"
    options = options_from_cli(fit_dtype, "bnb" if fit_dtype == "int8" else None, given.get("seq_len") or 4096,
                               given.get("batch") or 1, given.get("mode") or "inference", "adam", True, None, 1,
                               16, "sdpa")
    return {"memory.fit.options": options, "memory.fit.model": load_model_spec(given["model"])}
