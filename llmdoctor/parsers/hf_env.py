"""The "- Key: value" environment reports of the Hugging Face tools and LLaMA-Factory:
``transformers env`` (``transformers-cli env``), ``accelerate env``, ``huggingface-cli env`` and
``llamafactory-cli env``.
"""

from __future__ import annotations

import re

from ._accumulator import Facts
from ._text import known, size_bytes, whole, yes_no

TOOLS = (  # (format name, how its first line looks)
    ("transformers_env", re.compile(r"^-\s*`transformers`\s+version:", re.I)),
    ("accelerate_env", re.compile(r"^-\s*`Accelerate`\s+version:", re.I)),
    ("huggingface_cli_env", re.compile(r"^-\s*huggingface_hub version:")),
    ("llamafactory_env", re.compile(r"^-\s*`?(llamafactory|llama_factory|LLaMA-Factory)`?\s+version:", re.I)),
)
_ITEM = re.compile(r"^\s*-\s+(.+?)\s*:\s*(.*)$")
# "- X version: 1.2.3" -> the distribution X
_PACKAGES = {"transformers": "transformers", "accelerate": "accelerate", "datasets": "datasets", "peft": "peft",
             "trl": "trl", "deepspeed": "deepspeed", "bitsandbytes": "bitsandbytes", "vllm": "vllm",
             "huggingface_hub": "huggingface-hub", "safetensors": "safetensors", "numpy": "numpy",
             "llamafactory": "llamafactory", "flash-attn": "flash-attn", "flash_attn": "flash-attn",
             "xformers": "xformers", "torch": "torch", "sglang": "sglang", "liger-kernel": "liger-kernel"}


def detect(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        for name, pattern in TOOLS:
            if pattern.match(line.strip()) and name not in found:
                found.append(name)
    return found


def parse(lines: list[str], facts: Facts, formats: list[str]) -> None:
    if not formats:
        return
    for line in lines:
        m = _ITEM.match(line)
        if m:
            _read_item(m.group(1).strip().strip("`").strip(), m.group(2).strip(), facts)
    for name in formats:
        facts.saw(name)


def _read_item(key: str, value: str, facts: Facts) -> None:
    low = key.lower()
    if low.startswith("pytorch version") or low == "torch":
        _read_torch(value, facts)
    elif low == "platform":
        from .collect_env import _platform
        _platform(value, facts)
    elif low == "python version":
        v = re.match(r"(\d+\.\d+(?:\.\d+)?)", value)
        if v:
            facts.put(facts.python, "version", v.group(1))
    elif low in ("gpu type", "gpu memory") or (low in ("gpu number", "number of gpus") and value.isdigit()):
        _read_gpu_item(low, value, facts)
    elif low == "system ram":
        facts.put(facts.host, "ram_total", size_bytes(value))
    elif low == "numpy version":
        facts.add_package("numpy", value.split()[0] if known(value) else None)
    else:
        _read_package_version(key, value, facts)


def _read_torch(value: str, facts: Facts) -> None:
    # "2.3.0+cu121 (True)" (transformers/accelerate), "2.3.0+cu121 (GPU)" (llamafactory)
    vm = re.match(r"(\d[^\s]*)\s*(?:\((.*?)\))?", value)
    if not vm:
        return
    facts.add_package("torch", vm.group(1), None)
    facts.put(facts.torch, "version", vm.group(1))
    avail = _cuda_available_from_flag((vm.group(2) or "").strip())
    if avail is not None:
        facts.put(facts.torch, "cuda_available", avail)


def _cuda_available_from_flag(flag: str) -> bool | None:
    if flag.upper() in ("GPU", "CUDA"):
        return True
    if flag.upper() in ("CPU",):
        return False
    return yes_no(flag)


def _read_gpu_item(low: str, value: str, facts: Facts) -> None:
    if low == "gpu type":
        if known(value):
            facts.put(facts.gpu(0), "name", value)
    elif low == "gpu memory":
        facts.put(facts.gpu(0), "memory_total", size_bytes(value if re.search(r"[KMGT]i?B", value) else value + "GiB"))
    else:
        facts.set_gpu_count(whole(value))


def _read_package_version(key: str, value: str, facts: Facts) -> None:
    pm = re.match(r"^(.+?)\s+version$", key, re.I)
    name = pm.group(1).strip("` ").lower() if pm else key.lower()
    dist = _PACKAGES.get(name)
    v = known(re.sub(r"\s*\(.*\)$", "", value))
    if dist and v and re.match(r"\d", v):
        facts.add_package(dist, v.split()[0])
