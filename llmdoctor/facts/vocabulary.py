"""Words users type for the same thing: one alias table per vocabulary, shared by every command.

``canonical_dtype("bfloat16") == "bf16"``; ``canonical(value, choices)`` matches a value against a
setting's choices case-insensitively, through the aliases.  ``check --dtype`` and ``fit --dtype`` both
read :data:`DTYPE_ALIASES`, so the two commands accept the same words.
"""

from __future__ import annotations

from typing import Iterable

# alias (lower case) -> the short name llmdoctor uses.  torch's names (torch.bfloat16), NumPy's and the
# Hugging Face config's (torch_dtype = "bfloat16") all map to the same short names.
DTYPE_ALIASES: dict[str, str] = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "f32": "fp32", "torch.float32": "fp32",
    "tf32": "tf32", "tensorfloat32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "f16": "fp16", "torch.float16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16", "torch.bfloat16": "bf16",
    "fp8": "fp8", "float8": "fp8", "e4m3": "fp8", "float8_e4m3fn": "fp8", "e5m2": "fp8", "float8_e5m2": "fp8",
    "fp8_e4m3": "fp8", "fp8_e5m2": "fp8",
    "fp4": "fp4", "float4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4",
    "int8": "int8", "i8": "int8", "8bit": "int8",
    "int4": "int4", "i4": "int4",
    "nf4": "nf4", "4bit": "nf4",
}


def canonical_dtype(value: str) -> str | None:
    """The short dtype name for any alias, case-insensitively; None for an unknown word."""
    return DTYPE_ALIASES.get(value.strip().lower())


def canonical(value: str, choices: Iterable[str]) -> str | None:
    """``value`` as one of ``choices``: exact, case-insensitive, or through the dtype aliases; else None."""
    by_lower = {c.lower(): c for c in choices}
    word = value.strip().lower()
    alias = DTYPE_ALIASES.get(word)
    if alias is not None and alias in by_lower:  # the short name, even where the choices list aliases too
        return by_lower[alias]
    return by_lower.get(word)
