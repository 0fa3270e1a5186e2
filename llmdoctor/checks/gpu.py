"""GPUs: which ones a job will see, and which dtypes their Tensor Cores have."""

from __future__ import annotations

from .. import data
from ..engine import Context, check
from ..results import fail, passed, skip, warn
from ..snapshot import Snapshot
from ..facts import derived as F
from ..facts.known_error_findings import reports_known_errors

DTYPE_REMEDY = {
    "bf16": "Load the model in float16 instead: torch_dtype=torch.float16 (transformers), --dtype half (vLLM), "
            "fp16=True instead of bf16=True (Trainer).",
    "fp8": "Use bf16/fp16 weights, or a GPU with compute capability ≥ 8.9 (Ada, Hopper, Blackwell).",
    "fp4": "Use fp8/int8/bf16 instead, or a Blackwell GPU (compute capability ≥ 10.0).",
    "tf32": "TF32 needs Ampere (8.0) or newer; computations stay in full fp32 here (slower).",
    "int8": "Use fp16 weights, or a GPU with compute capability ≥ 7.2.",
    "fp16": "Run in fp32, or use a GPU with Tensor Cores (compute capability ≥ 7.0).",
}


@check("gpu.dtype", "GPUs have Tensor Cores for the dtypes LLMs use", needs=("gpus",))
@reports_known_errors
def check_gpu_dtypes(snap: Snapshot, ctx: Context):
    """Which Tensor Core dtypes does each GPU have, judged from its compute capability?

    Most LLM checkpoints are bf16.  bf16 Tensor Cores exist from Ampere (8.0); fp8 from Ada/Hopper (8.9);
    fp4 from Blackwell (10.0).  On older GPUs bf16 is emulated (slow) or refused: vLLM says "Bfloat16 is
    only supported on GPUs with compute capability of at least 8.0", Triton kernels fail with
    "Feature '.bf16' requires .target sm_80 or higher".  `torch.cuda.is_bf16_supported()` returns True on
    Turing through emulation, so the check decides from the compute capability, never from torch.

    Verdicts: a GPU without bf16 warns (remedy: load in float16).  With `--dtype bf16|fp8|fp4|tf32|int8`
    the check fails on GPUs that lack the dtype the job will use; a bf16 error text in a pasted dump
    (vLLM's "Bfloat16 is only supported ...", Triton's "Feature '.bf16' requires .target sm_80") counts
    as `--dtype bf16`.

    Sources: NVIDIA TransformerEngine support matrix (BF16 >= 8.0, FP8 >= 8.9); TensorRT hardware
    precision matrix; pytorch torch/cuda/__init__.py is_bf16_supported (emulation); failure catalog C1-C3.
    """
    if not snap.gpus:
        return skip("no NVIDIA GPU on this host")
    wanted = ctx.option("dtype")
    seen_error = None
    if wanted is None:
        # an error text that proves the job used a dtype ("Bfloat16 is only supported on GPUs with ...")
        from ..facts.known_error_findings import matches_for

        used = [m for m in matches_for(snap, "gpu.dtype") if m.error.dtype]
        if used:
            wanted, seen_error = used[0].error.dtype, used[0].excerpt
    findings = []
    for gpu in snap.gpus:
        label = F.gpu_label(gpu)
        cc, how = F.gpu_cc(gpu)
        if cc is None:
            findings.append(skip(f"compute capability of {label} is unknown", subject=label))
            continue
        have = data.dtypes_for(cc)
        evidence = {"compute_capability": cc, "compute_capability_source": how, "tensor_core_dtypes": list(have)}
        if wanted and wanted != "fp32" and wanted not in have:
            findings.append(fail(f"{label} (compute capability {cc}) has no {wanted} Tensor Cores, but the job "
                                 + (f"uses {wanted} (its error says so)" if seen_error else f"will use {wanted}"),
                                 {**evidence, "requested": wanted, **({"error": seen_error} if seen_error else {})},
                                 remedy=DTYPE_REMEDY.get(wanted, f"Use a dtype this GPU supports: {', '.join(have)}"),
                                 subject=label))
        elif not have:
            findings.append(warn(f"{label} (compute capability {cc}) has no Tensor Cores: fp16/bf16 matmuls are slow, bf16 is emulated",
                                 evidence, remedy=DTYPE_REMEDY["fp16"], subject=label))
        elif "bf16" not in have and wanted in (None, "bf16"):
            findings.append(warn(f"{label} (compute capability {cc}) has no bf16 Tensor Cores: bf16 checkpoints run "
                                 f"emulated or are refused ('Bfloat16 is only supported on GPUs with compute capability of at least 8.0')",
                                 evidence, remedy=DTYPE_REMEDY["bf16"], subject=label))
        else:
            findings.append(passed(f"{label} (compute capability {cc}) has Tensor Cores for {', '.join(have)}",
                                   evidence, subject=label))
    return findings


def parse_visible_devices(value: str) -> list[str]:
    return [p.strip() for p in value.split(",")]


@check("gpu.visible", "The GPUs a job will see are the ones present", needs=())
@reports_known_errors
def check_gpus_visible(snap: Snapshot, ctx: Context):
    """Can the driver see the GPUs, and does CUDA_VISIBLE_DEVICES select GPUs that exist?

    - NVML's "Driver/library version mismatch": the driver packages were upgraded while the old kernel
      module is still loaded; every CUDA program fails until a reboot (or module reload).
    - An NVIDIA GPU on the PCI bus with no driver loaded (NVML not found or not loaded).
    - CUDA_VISIBLE_DEVICES: CUDA reads the list up to the first invalid entry and ignores the rest, a
      repeated index yields no device, a negative one ends the list, and an empty value hides every GPU
      ("No CUDA GPUs are available").  UUIDs (or unique prefixes of them, with "GPU-"/"MIG-") must match
      a GPU that exists.

    Fix: reboot after a driver upgrade; install/load the driver; correct CUDA_VISIBLE_DEVICES (indices
    from 0 to the GPU count - 1, or UUIDs from `nvidia-smi -L`).

    Sources: NVIDIA CUDA environment variables (CUDA Programming Guide) and MPS docs (UUID prefixes,
    https://docs.nvidia.com/deploy/topics/topic_5_2_1.html); pytorch torch/cuda/__init__.py
    _parse_visible_devices (PR #84879: parsing stops at the first invalid entry, a repeated ordinal gives
    an empty set); failure catalog A7, A8.
    """
    nvml = snap.probe("nvml")
    host = snap.host
    reason = nvml.reason if nvml is not None and not nvml.ok else ""
    if reason and "mismatch" in reason.lower():
        return fail("NVML reports a Driver/library version mismatch: the loaded kernel module and the user-space "
                    "driver differ, so CUDA cannot start", {"nvml": reason,
                                                             "kernel_module": host.nvidia_kernel_module if host else None},
                    remedy="Reboot (or unload and reload the nvidia kernel modules) after the driver upgrade.")
    if snap.gpus is None:
        if host is not None and host.nvidia_pci_devices:
            return fail(f"{host.nvidia_pci_devices} NVIDIA GPU(s) on the PCI bus, but the driver is not usable: {reason or 'NVML unavailable'}",
                        {"nvidia_pci_devices": host.nvidia_pci_devices, "nvml": reason},
                        remedy="Install the NVIDIA driver (and in a container, pass the GPUs in: docker run --gpus all).")
        return skip(snap.unknown_reason("gpus"))
    count = len(snap.gpus)
    env = snap.env or {}
    if count == 0:
        if "CUDA_VISIBLE_DEVICES" in env:
            return skip("no NVIDIA GPU on this host (CUDA_VISIBLE_DEVICES has nothing to select)")
        return skip("no NVIDIA GPU on this host")
    value = env.get("CUDA_VISIBLE_DEVICES")
    evidence = {"gpus": count, "CUDA_VISIBLE_DEVICES": value}
    if value is None:
        return passed(f"{count} GPU(s) visible; CUDA_VISIBLE_DEVICES is not set", evidence)
    if value.strip() == "":
        return warn("CUDA_VISIBLE_DEVICES is set but empty: it hides every GPU ('No CUDA GPUs are available')",
                    evidence, remedy="unset CUDA_VISIBLE_DEVICES, or list the GPUs to use (e.g. 0,1)")
    uuids = [g.uuid for g in snap.gpus if g.uuid]
    visible: list[int] = []
    for pos, entry in enumerate(parse_visible_devices(value)):
        if entry.lstrip("-").isdigit():
            idx = int(entry)
            if idx < 0:
                if pos == 0:
                    return warn(f"CUDA_VISIBLE_DEVICES={value} starts with a negative index: no GPU is visible",
                                evidence, remedy="unset CUDA_VISIBLE_DEVICES, or list the GPUs to use")
                break
            if idx >= count:
                return fail(f"CUDA_VISIBLE_DEVICES={value} names GPU {idx}, but this host has {count} GPU(s) "
                            f"(0–{count - 1}): CUDA ignores it and every entry after it"
                            + (", so no GPU is visible" if not visible else f", so only {len(visible)} GPU(s) are visible"),
                            evidence, remedy=f"Use indices 0–{count - 1} (or UUIDs from nvidia-smi -L).")
            if idx in visible:
                return fail(f"CUDA_VISIBLE_DEVICES={value} repeats GPU {idx}: CUDA then exposes no GPU at all",
                            evidence, remedy="List each GPU once.")
            visible.append(idx)
        elif entry.upper().startswith(("GPU-", "MIG-")):
            matches = [i for i, u in enumerate(uuids) if u.lower().startswith(entry.lower())]
            if entry.upper().startswith("MIG-"):
                if not any(g.mig_mode for g in snap.gpus):
                    return fail(f"CUDA_VISIBLE_DEVICES names MIG device {entry}, but no GPU here is in MIG mode",
                                evidence, remedy="Use GPU indices or GPU UUIDs (nvidia-smi -L).")
                visible.append(-1)
                continue
            if len(matches) != 1:
                what = "matches no GPU here" if not matches else "matches several GPUs"
                return fail(f"CUDA_VISIBLE_DEVICES entry {entry} {what}: CUDA ignores it and every entry after it",
                            {**evidence, "uuids": uuids}, remedy="Use UUIDs from nvidia-smi -L (or indices).")
            visible.append(matches[0])
        else:
            return fail(f"CUDA_VISIBLE_DEVICES={value} has an entry {entry!r} that is neither an index nor a UUID: "
                        f"CUDA stops reading there", evidence, remedy="Use comma-separated indices or UUIDs.")
    findings = [passed(f"CUDA_VISIBLE_DEVICES={value} selects {len(visible)} of {count} GPU(s)", evidence)]
    t = snap.torch
    if t is not None and t.cuda_available and t.device_count is not None and t.device_count != len(visible):
        findings.append(warn(f"torch sees {t.device_count} GPU(s), but CUDA_VISIBLE_DEVICES selects {len(visible)}",
                             {**evidence, "torch_device_count": t.device_count}))
    return findings
