"""GPUs: which ones a job will see, and which dtypes their Tensor Cores have."""

from __future__ import annotations

from typing import Any, Mapping  # noqa: UP035 (the engine compares with the snapshot's typing.Mapping)

from .. import data
from ..engine import Context, Setting, check
from ..facts.derived import gpu_cc, gpu_label, texts_seen, why_unknown
from ..facts.known_errors import recognise
from ..facts.vocabulary import canonical_dtype
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import Gpu, Host, Meta, ProbeResult, Torch

# The dtypes --dtype takes; other spellings (torch's bfloat16, half, ...) through facts/vocabulary.py.
DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")

DTYPE_REMEDY = {
    "bf16": "Load the model in float16 instead: torch_dtype=torch.float16 (transformers), --dtype half (vLLM), "
            "fp16=True instead of bf16=True (Trainer).",
    "fp8": "Use bf16/fp16 weights, or a GPU with compute capability ≥ 8.9 (Ada, Hopper, Blackwell).",
    "fp4": "Use fp8/int8/bf16 instead, or a Blackwell GPU (compute capability ≥ 10.0).",
    "tf32": "TF32 needs Ampere (8.0) or newer; computations stay in full fp32 here (slower).",
    "int8": "Use fp16 weights, or a GPU with compute capability ≥ 7.2.",
    "fp16": "Run in fp32, or use a GPU with Tensor Cores (compute capability ≥ 7.0).",
}


def normalize_dtype(value: str | None) -> str | None:
    """'BFloat16' -> 'bf16' (the vocabulary's aliases); a word it does not know, lower-cased; None stays None."""
    if value is None:
        return None
    return canonical_dtype(value) or value.strip().lower()


@check("gpu.dtype", "GPUs have Tensor Cores for the dtypes LLMs use", known_errors=True,
       settings={"dtype": Setting(str, None, "the dtype the job will use: gpu.dtype fails on GPUs without it",
                                  flag="--dtype", choices=DTYPES)})
def check_gpu_dtypes(gpus: tuple[Gpu, ...], errors: tuple[str, ...], torch: Torch | None,
                     ctx: Context) -> list[Finding]:
    """Which Tensor Core dtypes does each GPU have, judged from its compute capability?

    Most LLM checkpoints are bf16.  bf16 Tensor Cores exist from Ampere (8.0); fp8 from Ada/Hopper (8.9);
    fp4 from Blackwell (10.0).  On older GPUs bf16 is emulated (slow) or refused: vLLM says "Bfloat16 is
    only supported on GPUs with compute capability of at least 8.0", Triton kernels fail with
    "Feature '.bf16' requires .target sm_80 or higher".  `torch.cuda.is_bf16_supported()` returns True on
    Turing through emulation, so the check decides from the compute capability, never from torch.

    Verdicts: a GPU without bf16 warns (remedy: load in float16).  With `--dtype bf16|fp8|fp4|tf32|int8`
    (torch's names bfloat16, float16 are accepted too) the check fails on GPUs that lack the dtype the
    job will use; a bf16 error text in a pasted dump (vLLM's "Bfloat16 is only supported ...", Triton's
    "Feature '.bf16' requires .target sm_80") counts as `--dtype bf16`.

    Sources: NVIDIA TransformerEngine support matrix (BF16 >= 8.0, FP8 >= 8.9),
    https://github.com/NVIDIA/TransformerEngine/blob/main/docs/support_matrix.rst; TensorRT hardware
    precision matrix; pytorch/pytorch torch/cuda/__init__.py is_bf16_supported (emulation).
    """
    if not gpus:
        return [not_applicable("no NVIDIA GPU on this host")]
    wanted = normalize_dtype(ctx.setting("dtype"))
    seen_error = None
    if wanted is None:
        wanted, seen_error = dtype_an_error_shows(errors, torch)
    return [gpu_has_the_dtype(gpu, wanted, seen_error) for gpu in gpus]


def dtype_an_error_shows(errors: tuple[str, ...], torch: Torch | None) -> tuple[str | None, str | None]:
    """(dtype, excerpt) when an error text proves the job used a dtype ("Bfloat16 is only supported ...")."""
    for match in recognise(texts_seen(errors, torch)):
        if match.error.check == "gpu.dtype" and match.error.dtype:
            return match.error.dtype, match.excerpt
    return None, None


def gpu_has_the_dtype(gpu: Gpu, wanted: str | None, seen_error: str | None) -> Finding:
    label = gpu_label(gpu)
    cc, how = gpu_cc(gpu)
    if cc is None:
        return unknown(f"compute capability of {label} is unknown", subject=label)
    have = data.dtypes_for(cc)
    evidence: dict[str, Any] = {"compute_capability": cc, "compute_capability_source": how,
                                "tensor_core_dtypes": list(have)}
    if wanted and wanted != "fp32" and wanted not in have:
        return fail(f"{label} (compute capability {cc}) has no {wanted} Tensor Cores, but the job "
                    + (f"uses {wanted} (its error says so)" if seen_error else f"will use {wanted}"),
                    {**evidence, "requested": wanted, **({"error": seen_error} if seen_error else {})},
                    remedy=DTYPE_REMEDY.get(wanted, f"Use a dtype this GPU supports: {', '.join(have)}"),
                    subject=label)
    if not have:
        return warn(f"{label} (compute capability {cc}) has no Tensor Cores: fp16/bf16 matmuls are slow, "
                    f"bf16 is emulated", evidence, remedy=DTYPE_REMEDY["fp16"], subject=label)
    if "bf16" not in have and wanted in (None, "bf16"):
        return warn(f"{label} (compute capability {cc}) has no bf16 Tensor Cores: bf16 checkpoints run "
                    f"emulated or are refused ('Bfloat16 is only supported on GPUs with compute capability of at "
                    f"least 8.0')", evidence, remedy=DTYPE_REMEDY["bf16"], subject=label)
    return passed(f"{label} (compute capability {cc}) has Tensor Cores for {', '.join(have)}", evidence, subject=label)


# --------------------------------------------------------------------------- gpu.visible


def parse_visible_devices(value: str) -> list[str]:
    return [p.strip() for p in value.split(",")]


@check("gpu.visible", "The GPUs a job will see are the ones present", known_errors=True)
def check_gpus_visible(gpus: tuple[Gpu, ...] | None, env: Mapping[str, str] | None, host: Host | None,
                       torch: Torch | None, probes: tuple[ProbeResult, ...], meta: Meta) -> Finding | list[Finding]:
    """Can the driver see the GPUs, and does CUDA_VISIBLE_DEVICES select GPUs that exist?

    - NVML's "Driver/library version mismatch": the driver packages were upgraded while the old kernel
      module is still loaded; every CUDA program fails until a reboot (or module reload).
    - An NVIDIA GPU on the PCI bus with no driver loaded (NVML not found or not loaded).
    - CUDA_VISIBLE_DEVICES: CUDA reads the list up to the first invalid entry and ignores the rest, a
      repeated index yields no device, a negative one ends the list, and an empty value hides every GPU
      ("No CUDA GPUs are available").  UUIDs (or unique prefixes of them, with "GPU-"/"MIG-") must match
      a GPU that exists.
    When the environment was not read (a pasted nvidia-smi output), what CUDA_VISIBLE_DEVICES selects is
    unknown, and so is the verdict.

    Fix: reboot after a driver upgrade; install/load the driver; correct CUDA_VISIBLE_DEVICES (indices
    from 0 to the GPU count - 1, or UUIDs from `nvidia-smi -L`).

    Sources: NVIDIA CUDA environment variables (CUDA Programming Guide) and MPS docs (UUID prefixes,
    https://docs.nvidia.com/deploy/topics/topic_5_2_1.html); pytorch/pytorch torch/cuda/__init__.py
    _parse_visible_devices (PR #84879: parsing stops at the first invalid entry, a repeated ordinal gives
    an empty set).
    """
    nvml = next((p for p in probes if p.name == "nvml"), None)
    reason = nvml.reason or "" if nvml is not None and not nvml.ok else ""
    broken = driver_cannot_start(reason, gpus, host)
    if broken is not None:
        return broken
    if gpus is None:
        return unknown(why_unknown("gpus", probes, meta))
    if not gpus:
        return not_applicable("no NVIDIA GPU on this host" + (
            " (CUDA_VISIBLE_DEVICES has nothing to select)" if env and "CUDA_VISIBLE_DEVICES" in env else ""))
    if env is None:
        return unknown(f"{len(gpus)} GPU(s) present; what CUDA_VISIBLE_DEVICES selects is unknown "
                       f"({why_unknown('env', probes, meta)})", {"gpus": len(gpus)})
    value = env.get("CUDA_VISIBLE_DEVICES")
    evidence = {"gpus": len(gpus), "CUDA_VISIBLE_DEVICES": value}
    if value is None:
        return passed(f"{len(gpus)} GPU(s) visible; CUDA_VISIBLE_DEVICES is not set", evidence)
    selected = visible_selection(value, gpus, evidence)
    if isinstance(selected, Finding):
        return selected
    return [passed(f"CUDA_VISIBLE_DEVICES={value} selects {len(selected)} of {len(gpus)} GPU(s)", evidence),
            *torch_sees_the_same(torch, len(selected), evidence)]


def driver_cannot_start(reason: str, gpus: tuple[Gpu, ...] | None, host: Host | None) -> Finding | None:
    """A driver/library mismatch, or NVIDIA GPUs on the PCI bus without a usable driver."""
    if reason and "mismatch" in reason.lower():
        return fail("NVML reports a Driver/library version mismatch: the loaded kernel module and the user-space "
                    "driver differ, so CUDA cannot start",
                    {"nvml": reason, "kernel_module": host.nvidia_kernel_module if host else None},
                    remedy="Reboot (or unload and reload the nvidia kernel modules) after the driver upgrade.")
    if gpus is None and host is not None and host.nvidia_pci_devices:
        return fail(f"{host.nvidia_pci_devices} NVIDIA GPU(s) on the PCI bus, but the driver is not usable: "
                    f"{reason or 'NVML unavailable'}",
                    {"nvidia_pci_devices": host.nvidia_pci_devices, "nvml": reason},
                    remedy="Install the NVIDIA driver (in a container, pass the GPUs in with --gpus all).",
                    commands=("nvidia-smi",))
    return None


def visible_selection(value: str, gpus: tuple[Gpu, ...], evidence: dict[str, Any]) -> list[int] | Finding:
    """The GPUs CUDA_VISIBLE_DEVICES selects, read as CUDA reads it; a Finding when it selects wrongly."""
    if value.strip() == "":
        return warn("CUDA_VISIBLE_DEVICES is set but empty: it hides every GPU ('No CUDA GPUs are available')",
                    evidence, remedy="Unset it, or list the GPUs to use (e.g. 0,1).",
                    commands=("unset CUDA_VISIBLE_DEVICES",))
    visible: list[int] = []
    for pos, entry in enumerate(parse_visible_devices(value)):
        if entry.lstrip("-").isdigit() and int(entry) < 0:
            if pos == 0:
                return warn(f"CUDA_VISIBLE_DEVICES={value} starts with a negative index: no GPU is visible",
                            evidence, remedy="Unset it, or list the GPUs to use.",
                            commands=("unset CUDA_VISIBLE_DEVICES",))
            break
        chosen = index_entry(entry, value, len(gpus), visible, evidence) if entry.lstrip("-").isdigit() else (
            uuid_entry(entry, value, gpus, evidence))
        if isinstance(chosen, Finding):
            return chosen
        visible.append(chosen)
    return visible


def index_entry(entry: str, value: str, count: int, visible: list[int], evidence: dict[str, Any]) -> int | Finding:
    idx = int(entry)
    if idx >= count:
        return fail(f"CUDA_VISIBLE_DEVICES={value} names GPU {idx}, but this host has {count} GPU(s) "
                    f"(0–{count - 1}): CUDA ignores it and every entry after it"
                    + (", so no GPU is visible" if not visible else f", so only {len(visible)} GPU(s) are visible"),
                    evidence, remedy=f"Use indices 0–{count - 1} (or UUIDs from nvidia-smi -L).",
                    commands=("nvidia-smi -L",))
    if idx in visible:
        return fail(f"CUDA_VISIBLE_DEVICES={value} repeats GPU {idx}: CUDA then exposes no GPU at all",
                    evidence, remedy="List each GPU once.")
    return idx


def uuid_entry(entry: str, value: str, gpus: tuple[Gpu, ...], evidence: dict[str, Any]) -> int | Finding:
    if not entry.upper().startswith(("GPU-", "MIG-")):
        return fail(f"CUDA_VISIBLE_DEVICES={value} has an entry {entry!r} that is neither an index nor a UUID: "
                    f"CUDA stops reading there", evidence, remedy="Use comma-separated indices or UUIDs.")
    if entry.upper().startswith("MIG-"):
        if not any(g.mig_mode for g in gpus):
            return fail(f"CUDA_VISIBLE_DEVICES names MIG device {entry}, but no GPU here is in MIG mode",
                        evidence, remedy="Use GPU indices or GPU UUIDs.", commands=("nvidia-smi -L",))
        return -1
    uuids = [g.uuid for g in gpus if g.uuid]
    matches = [i for i, u in enumerate(uuids) if u.lower().startswith(entry.lower())]
    if len(matches) != 1:
        what = "matches no GPU here" if not matches else "matches several GPUs"
        return fail(f"CUDA_VISIBLE_DEVICES entry {entry} {what}: CUDA ignores it and every entry after it",
                    {**evidence, "uuids": uuids}, remedy="Use UUIDs (or indices) that nvidia-smi -L lists.",
                    commands=("nvidia-smi -L",))
    return matches[0]


def torch_sees_the_same(torch: Torch | None, selected: int, evidence: dict[str, Any]) -> list[Finding]:
    if torch is None or not torch.cuda_available or torch.device_count is None or torch.device_count == selected:
        return []
    return [warn(f"torch sees {torch.device_count} GPU(s), but CUDA_VISIBLE_DEVICES selects {selected}",
                 {**evidence, "torch_device_count": torch.device_count})]
