"""Unsloth's start-up banner.

"CUDA: 7.5" (older: "CUDA = 7.5") is the GPU's compute capability; "CUDA Toolkit: 12.1" is
``torch.version.cuda``; "Bfloat16 = TRUE" comes from ``torch.cuda.is_bf16_supported()``, which counts
emulation (True on Turing), so it is not a fact about bf16 Tensor Cores and is ignored.
Source: unsloth/models/_utils.py / llama.py banner (statistics string).
"""

from __future__ import annotations

import re

from ._accumulator import Facts
from ._text import size_bytes, whole

NAME = "unsloth_banner"
_SEP = r"\s*[:=]\s*"


def detect(lines: list[str]) -> bool:
    return any("Unsloth" in line and ("patching" in line or "==((====))==" in line) for line in lines) and any(
        re.search(rf"CUDA Toolkit{_SEP}", line) or re.search(rf"(Torch|Pytorch){_SEP}\d", line) for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    text = "\n".join(line for line in lines if re.search(r"Unsloth|Torch|Pytorch|CUDA|Max memory|Bfloat16|GPU", line))
    put = facts.put
    m = re.search(r"Unsloth\s+(\d{4}\.\d+(?:\.\d+)?)", text)
    if m:
        facts.add_package("unsloth", m.group(1))
    m = re.search(rf"(?:Torch|Pytorch){_SEP}(\d[^\s]*?)\.?(?:\s|$)", text)
    if m:
        put(facts.torch, "version", m.group(1))
        facts.add_package("torch", m.group(1))
    m = re.search(rf"CUDA Toolkit{_SEP}(\d+\.\d+)", text)
    if m and "cuda" not in facts.torch:
        facts.torch["cuda"] = m.group(1)
    m = re.search(rf"(?<!Toolkit)(?<![\w ]Toolkit )\bCUDA{_SEP}(\d+\.\d+)\.?(?:\s|$)", text)
    cc = m.group(1) if m else None
    m = re.search(r"Num GPUs\s*=\s*(\d+)", text)
    if m:
        facts.set_gpu_count(whole(m.group(1)))
    m = re.search(r"(?:GPU:\s*|\|\s+)((?:NVIDIA|Tesla|Quadro|GeForce)[^.\n]{0,200}(?:\.\d{1,9}[^.\n]{0,200})?)\.\s+(?:Num GPUs|Max memory)", text)
    if m:
        put(facts.gpu(0), "name", m.group(1).strip())
    if cc:
        put(facts.gpu(0), "compute_capability", cc)
    m = re.search(r"Max memory:\s*([\d.]+\s*GB)", text)
    if m:
        # torch's total_memory / 1024**3 printed as "GB"
        put(facts.gpu(0), "memory_total", size_bytes(m.group(1).replace("GB", "GiB")))
    m = re.search(r"Platform\s*[:=]\s*(Linux|Windows)", text)
    if m:
        put(facts.host, "os", m.group(1))
        if m.group(1) == "Windows":
            put(facts.driver, "platform", "windows")
    for pkg, pat in (("transformers", r"Transformers:\s*(\d[^\s]*?)\.?(?:\s|$)"),
                     ("vllm", r"vLLM:\s*(\d[^\s]*?)\.?(?:\s|$)"),
                     ("triton", r"Triton:\s*(\d[^\s]*?)\.?(?:\s|$)"),
                     ("xformers", r"Xformers\s*=\s*(\d[^\s\]]*?)\.?[\s\]]")):
        m = re.search(pat, text)
        if m:
            facts.add_package(pkg, m.group(1))
    m = re.search(r"Your GPU has CUDA compute capability (\d+\.\d+)", text)
    if m:
        put(facts.gpu(0), "compute_capability", m.group(1))
    facts.saw(NAME)
