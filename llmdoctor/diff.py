"""Differences between environments that matter, ranked by how likely each is to explain a failure.

Pure: ``diff_snapshots(snaps)`` compares the facts of two or more snapshots (saved or parsed from
dumps).  A fact unknown in an input is shown as unknown and never counted as a difference by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from . import data
from .snapshot import Snapshot
from .facts.derived import cudnn_text
from .units import format_bytes, truncate
from .frozen import frozen

SCHEMA = "llmdoctor.diff/1"

# (key, label, weight, why it matters): weight ~ how often such a difference explains a failure
# (ordering of the failure catalog: driver/runtime > arch/torch build > packages > comms > the rest).
KEY_PACKAGES = {
    "vllm": 70, "xformers": 66, "flash-attn": 66, "triton": 62, "nvidia-nccl-cu12": 64, "nvidia-nccl-cu13": 64,
    "nvidia-cudnn-cu12": 60, "nvidia-cudnn-cu13": 60, "nvidia-cuda-runtime-cu12": 60, "nvidia-cublas-cu12": 55,
    "flashinfer-python": 55, "transformers": 55, "bitsandbytes": 52, "deepspeed": 52, "numpy": 50, "unsloth": 50,
    "accelerate": 45, "torchvision": 45, "peft": 40, "trl": 40, "torchaudio": 35, "sglang": 55,
}
ENV_PREFIXES = (("NCCL_", 60), ("TORCH_NCCL_", 50), ("CUDA_VISIBLE_DEVICES", 65), ("LD_LIBRARY_PATH", 55),
                ("PYTORCH_CUDA_ALLOC_CONF", 50), ("PYTORCH_ALLOC_CONF", 50), ("CUDA_HOME", 40), ("CUDA_PATH", 40),
                ("VLLM_", 40), ("CUDA_MODULE_LOADING", 35), ("CUDA_LAUNCH_BLOCKING", 30))


@frozen
class Difference:
    key: str
    label: str
    values: tuple[str | None, ...]  # one per input; None = unknown there
    score: int
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "values": list(self.values), "score": self.score,
                "why": self.why}


def _gpu_models(s: Snapshot) -> str | None:
    if s.gpus is None:
        return None
    if not s.gpus:
        return "none"
    names: dict[str, int] = {}
    for g in s.gpus:
        names[g.name or "?"] = names.get(g.name or "?", 0) + 1
    return ", ".join(f"{n}× {name}" for name, n in names.items())


def _gpu_ccs(s: Snapshot) -> str | None:
    if not s.gpus:
        return None
    ccs = []
    for g in s.gpus:
        cc = g.compute_capability or (data.gpu_by_name(g.name) or {}).get("compute_capability")
        if cc is None:
            return None
        ccs.append(cc)
    return ", ".join(sorted(set(ccs)))


def _t(attr: str) -> Callable[[Snapshot], Any]:
    def get(s: Snapshot) -> Any:
        if s.torch is None:
            return None
        if not s.torch.installed:
            return "not installed"
        value = getattr(s.torch, attr)
        if attr == "cuda" and value is None and s.torch.version:
            return "none (CPU build)" if not s.torch.hip else f"ROCm {s.torch.hip}"
        if isinstance(value, tuple):
            return " ".join(value)
        return value
    return get


FACTS: list[tuple[str, str, int, str, Callable[[Snapshot], Any]]] = [
    ("torch.import_error", "torch import error", 100, "torch does not import in one of them",
     lambda s: s.torch.import_error if s.torch else None),
    ("driver.cuda_version", "driver's max CUDA", 95, "the driver must support torch's CUDA runtime",
     lambda s: s.driver.cuda_version if s.driver else None),
    ("torch.cuda", "torch CUDA runtime", 94, "a different CUDA build of torch (or a CPU build)", _t("cuda")),
    ("driver.version", "NVIDIA driver", 90, "driver version decides which CUDA runtimes run",
     lambda s: s.driver.version if s.driver else None),
    ("gpus.compute_capability", "GPU compute capability", 88, "kernels are compiled per GPU architecture", _gpu_ccs),
    ("torch.version", "torch", 85, "a different torch (extensions are built per torch version)", _t("version")),
    ("gpus.models", "GPUs", 80, "different GPUs (memory, architecture, P2P)", _gpu_models),
    ("torch.cuda_available", "torch.cuda.is_available()", 80, "CUDA does not initialise in one of them",
     lambda s: None if s.torch is None or s.torch.cuda_available is None else str(s.torch.cuda_available)),
    ("torch.arch_list", "torch arch list", 75, "GPU architectures torch has kernels for", _t("arch_list")),
    ("torch.nccl", "NCCL (torch)", 70, "collectives: NCCL bugs and GPU support differ by version", _t("nccl")),
    ("torch.cudnn", "cuDNN (torch)", 60, "cuDNN torch loads",
     lambda s: cudnn_text(s.torch.cudnn) if s.torch and s.torch.installed else _t("cudnn")(s)),
    ("host.shm_total", "/dev/shm size", 50, "NCCL and DataLoader workers need shared memory",
     lambda s: format_bytes(s.host.shm_total) if s.host and s.host.shm_total else None),
    ("toolkit.nvcc_version", "nvcc (CUDA toolkit)", 40, "what extensions are compiled with",
     lambda s: s.toolkit.nvcc_version if s.toolkit else None),
    ("python.version", "Python", 35, "wheels are built per Python version",
     lambda s: s.python.version if s.python else None),
    ("host.container", "container", 30, "containers limit /dev/shm, devices and libraries",
     lambda s: s.host.container if s.host else None),
    ("host.os_release", "OS", 20, "OS release", lambda s: s.host.os_release if s.host else None),
    ("host.kernel", "kernel", 15, "kernel version", lambda s: s.host.kernel if s.host else None),
]


def _major(value: str | None) -> int | None:
    v = data.version(value)
    return v.major if v is not None else None


def diff_snapshots(snaps: Sequence[Snapshot]) -> list[Difference]:
    """Ranked differences (highest score first) among two or more snapshots."""
    out: list[Difference] = []
    for key, label, weight, why, get in FACTS:
        values = tuple(_str(get(s)) for s in snaps)
        d = _difference(key, label, weight, why, values)
        if d:
            out.append(d)
    out += _package_differences(snaps) + _env_differences(snaps)
    return sorted(out, key=lambda d: (-d.score, d.key))


def _package_differences(snaps: Sequence[Snapshot]) -> list[Difference]:
    out = []
    names = sorted({d.name.lower() for s in snaps if s.packages for d in s.packages.distributions})
    for name in names:
        weight = KEY_PACKAGES.get(name)
        if weight is None:
            continue
        values = tuple(_str(s.packages.version(name)) if s.packages is not None else None for s in snaps)
        d = _difference(f"packages.{name}", name, weight, f"{name} version", values)
        if d:
            out.append(d)
    return out


def _env_differences(snaps: Sequence[Snapshot]) -> list[Difference]:
    out = []
    for name in sorted({k for s in snaps if s.env for k in s.env}):
        weight = next((w for prefix, w in ENV_PREFIXES if name.startswith(prefix)), None)
        if weight is None:
            continue
        values = tuple((s.env.get(name, "(unset)") if s.env is not None else None) for s in snaps)
        d = _difference(f"env.{name}", name, weight, f"environment variable {name}", values)
        if d:
            out.append(d)
    return out


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _difference(key: str, label: str, weight: int, why: str, values: tuple[str | None, ...]) -> Difference | None:
    present = [v for v in values if v is not None]
    if len(present) < 2 or len(set(present)) < 2:
        return None
    score = weight
    majors = {_major(v) for v in present}
    if len(majors) > 1 and None not in majors and not key.startswith(("env.", "host.", "gpus.")):
        score += 5  # a major-version difference is more likely to matter than a patch release
    return Difference(key, label, values, score, why)


def to_dict(names: Sequence[str], snaps: Sequence[Snapshot], diffs: Sequence[Difference]) -> dict[str, Any]:
    return {"schema": SCHEMA, "inputs": [{"name": n, "source": s.meta.source, "understood": list(s.meta.understood)}
                                         for n, s in zip(names, snaps)],
            "differences": [d.to_dict() for d in diffs]}


def render_text(names: Sequence[str], diffs: Sequence[Difference], width: int | None = None) -> str:
    """The differences as a table that fits ``width`` columns (cells cut at a word, with an ellipsis).

    Without ``width``: the terminal's (``COLUMNS``), 100 when there is none.
    """
    import shutil
    import textwrap

    width = width or shutil.get_terminal_size((100, 24)).columns

    letters = [chr(ord("A") + i) for i in range(len(names))]
    head = "llmdoctor diff: " + ", ".join(f"{l} = {n}" for l, n in zip(letters, names))
    lines = textwrap.wrap(head, width=max(width, 40), subsequent_indent="  ", break_long_words=False,
                          break_on_hyphens=False) or [head]
    if not diffs:
        lines += textwrap.wrap("No differences in the facts that matter (driver, CUDA, torch, GPUs, key packages, "
                               "NCCL/allocator variables).", width=max(width, 40), break_long_words=False)
        return "\n".join(lines) + "\n"
    rows = [["#", "what", *letters]] + [[str(i + 1), d.label, *[v if v is not None else "?" for v in d.values]]
                                        for i, d in enumerate(diffs)]
    limits = _column_limits(rows, max(width, 40))
    widths = [min(max(len(r[c]) for r in rows), limits[c]) for c in range(len(rows[0]))]
    lines.append("")
    for r in rows:
        lines.append("  ".join(truncate(cell, w).ljust(w) for cell, w in zip(r, widths)).rstrip())
    lines.append("")
    lines.append(f"{len(diffs)} difference(s), most likely cause first; '?' = not in that input.")
    return "\n".join(lines) + "\n"


def _column_limits(rows: list[list[str]], width: int) -> list[int]:
    """The widest each column may be: '#' and 'what' as they need (at most 28), the values share the rest."""
    number = max(len(r[0]) for r in rows)
    what = min(max(len(r[1]) for r in rows), 28)
    values = len(rows[0]) - 2
    room = width - number - what - 2 * (values + 1)
    return [number, what] + [max(12, min(48, room // max(values, 1)))] * values
