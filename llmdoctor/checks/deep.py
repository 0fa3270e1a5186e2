"""Measured probes (``deep.*``, with ``check --deep``): TFLOPS, bandwidths and latency jitter against spec.

The figures come from ``llmdoctor.probes.deep`` (a subprocess of the target interpreter); the published
peaks from ``gpu_specs.json``.  Without ``--deep`` these checks are not applicable; on a CPU-only machine
``--deep`` says what it would measure.
"""

from __future__ import annotations

from typing import Any

from .. import data
from ..engine import Context, Setting, check
from ..facts import derived as F
from ..facts.health import jitter_stats
from ..results import Finding, not_applicable, passed, unknown, warn
from ..snapshot import Deep, DeepMeasure, Gpu, ProbeResult
from .health import gpu_spec

NOT_RUN = "measured only with check --deep"


def _deep_state(deep: Deep | None, probes: tuple[ProbeResult, ...], kinds: tuple[str, ...],
                gpus: tuple[Gpu, ...] | None = ()) -> Finding | list[DeepMeasure]:
    """The measures of these kinds, or the finding that says why there are none."""
    record = next((p for p in probes if p.name == "deep"), None)
    if deep is None:
        if record is not None and not record.ok:
            return unknown(f"the deep probes failed: {record.reason}")
        if gpus is None:
            return unknown("the GPUs are unknown and the deep probes did not run (check --deep on the machine)")
        return not_applicable(NOT_RUN)
    if deep.mode == "not-run":
        return not_applicable(deep.note or "the deep probes did not run")
    rows = [m for m in deep.measures if m.kind in kinds]
    if deep.mode == "cpu-smoke":
        figures = ", ".join(f"{m.kind} {m.dtype or ''} {m.value} {m.unit}".replace("  ", " ") for m in rows if m.value is not None)
        return not_applicable(f"CPU smoke mode: measured on the CPU with tiny sizes ({figures}); no GPU spec to compare",
                              {"measures": len(rows)})
    if not rows:
        return unknown("the deep probes measured nothing of this kind (time budget spent?)")
    return rows


def _gpu(gpus: tuple[Gpu, ...] | None, index: int | None) -> Gpu | None:
    return next((g for g in gpus or () if g.index == index), None)


def _label(gpus: tuple[Gpu, ...] | None, index: int | None) -> str:
    gpu = _gpu(gpus, index)
    return F.gpu_label(gpu) if gpu else f"GPU {index}"


def judge_fraction(value: float, peak: float, floor: float) -> bool:
    """True when a measured figure reaches ``floor`` of its published peak."""
    return value >= floor * peak


MATMUL_CAUSES = {"fp32": "clocks throttled or power capped",
                 "tf32": "TF32 disabled (torch.backends.cuda.matmul.allow_tf32), clocks throttled or power capped",
                 "fp16": "Tensor Cores unused, clocks throttled or power capped",
                 "bf16": "Tensor Cores unused, clocks throttled or power capped",
                 "fp8": "FP8 kernels not available in this cuBLAS, clocks throttled or power capped"}


def _matmul_finding(m: DeepMeasure, gpus: tuple[Gpu, ...] | None, floor: float) -> Finding:
    label = _label(gpus, m.device)
    if m.error or m.value is None:
        return unknown(f"{label}: {m.dtype} matmul not measured: {m.error}", subject=label)
    gpu = _gpu(gpus, m.device)
    spec = gpu_spec(gpu.name if gpu else None)
    peak = (spec or {}).get("tflops", {}).get(m.dtype or "")
    ev: dict[str, Any] = {"dtype": m.dtype, "tflops": m.value, "peak_tflops": peak, "size": m.size, "floor": floor}
    if not peak:
        return unknown(f"{label}: {m.dtype} matmul {m.value:.1f} TFLOPS; no published peak for this model to compare",
                       ev, subject=label)
    ev["fraction"] = round(m.value / peak, 3)
    if not judge_fraction(m.value, peak, floor):
        return warn(f"{label}: dense {m.dtype} matmul reaches {m.value:.1f} TFLOPS, {m.value / peak:.0%} of the "
                    f"{peak:g} TFLOPS peak (below {floor:.0%}): {MATMUL_CAUSES.get(m.dtype or '', 'check clocks')}",
                    ev, remedy="See health.clocks and health.power-limit; re-run under no other load.", subject=label)
    return passed(f"{label}: dense {m.dtype} matmul {m.value:.1f} TFLOPS, {m.value / peak:.0%} of {peak:g}", ev,
                  subject=label)


@check("deep.matmul", "Dense matmul reaches its published TFLOPS",
       settings={"min_fraction": Setting(float, 0.6, "warn below this fraction of the published dense peak"),
                 "deep": Setting(bool, False, "run the measured probes (GPU only, about 2 minutes)", flag="--deep")})
def check_matmul(deep: Deep | None, gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...],
                 ctx: Context) -> Finding | list[Finding]:
    """Dense matmul TFLOPS per dtype (fp32, tf32, fp16, bf16, fp8 where supported) against the published peak.

    An n=8192 square matmul saturates the GPU; the figure is 2n^3 per product over the measured time. Well
    tuned dense bf16 GEMMs reach roughly 80-87% of the dense peak on A100/H100, so a result below
    ``min_fraction`` (default 60%) means something is wrong: TF32 disabled, clocks throttled (heat, power
    cap), Tensor Cores unused, or another process on the GPU. Peaks are the datasheets' dense figures
    (half the "with sparsity" ones).

    Sources: NVIDIA H100 and A100 datasheets (gpu_specs.json rows);
    https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html
    """
    state = _deep_state(deep, probes, ("matmul",), gpus)
    if isinstance(state, Finding):
        return state
    floor = float(ctx.setting("min_fraction"))
    return [_matmul_finding(m, gpus, floor) for m in state]


def _bandwidth_finding(m: DeepMeasure, peak: float | None, what: str, label: str, floor: float, why: str) -> Finding:
    if m.error or m.value is None:
        return unknown(f"{label}: {what} not measured: {m.error}", subject=label)
    ev = {"gbs": m.value, "peak_gbs": peak, "size": m.size, "floor": floor}
    if not peak:
        return unknown(f"{label}: {what} {m.value:.1f} GB/s; no reference figure to compare", ev, subject=label)
    ev["fraction"] = round(m.value / peak, 3)
    if not judge_fraction(m.value, peak, floor):
        return warn(f"{label}: {what} {m.value:.1f} GB/s, {m.value / peak:.0%} of {peak:g} GB/s (below {floor:.0%}): {why}",
                    ev, subject=label)
    return passed(f"{label}: {what} {m.value:.1f} GB/s, {m.value / peak:.0%} of {peak:g} GB/s", ev, subject=label)


@check("deep.memory-bandwidth", "Device-memory bandwidth reaches its published figure",
       settings={"min_fraction": Setting(float, 0.7, "warn below this fraction of the published bandwidth")})
def check_memory_bandwidth(deep: Deep | None, gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...],
                           ctx: Context) -> Finding | list[Finding]:
    """Device-memory copy bandwidth (a 1 GiB copy reads and writes every byte) against the published figure.

    Copies reach roughly 80-90% of the HBM figure on a healthy GPU; far less points at memory clocks held
    down, another process using the GPU, or a degraded board.

    Sources: NVIDIA H100 and A100 datasheets (GPU memory bandwidth; gpu_specs.json rows).
    """
    state = _deep_state(deep, probes, ("membw",), gpus)
    if isinstance(state, Finding):
        return state
    floor = float(ctx.setting("min_fraction"))
    out = []
    for m in state:
        gpu = _gpu(gpus, m.device)
        peak = (gpu_spec(gpu.name if gpu else None) or {}).get("memory_bandwidth_gbs")
        out.append(_bandwidth_finding(m, peak, "device-memory copy", _label(gpus, m.device), floor,
                                      "memory clocks held down or the GPU is shared"))
    return out


def pcie_peak_gbs(gen: int | None, width: int | None) -> float | None:
    """One direction of a PCIe link: per-lane rate after encoding times the width."""
    lanes = data.load("gpu_specs")["pcie_lane_gbs"]
    if gen is None or width is None or str(gen) not in lanes:
        return None
    return round(float(lanes[str(gen)]) * width, 3)


@check("deep.host-transfer", "Pinned host-device copies reach the PCIe link's rate",
       settings={"min_fraction": Setting(float, 0.6, "warn below this fraction of the link's one-way rate")})
def check_host_transfer(deep: Deep | None, gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...],
                        ctx: Context) -> Finding | list[Finding]:
    """Pinned host-to-device and device-to-host bandwidth against the PCIe link the GPU is built for.

    The reference is the model's own link (Gen5 x16 for H100: 63 GB/s one way; Gen4 x16 for A100: 31.5
    GB/s), so a link trained down (see health.pcie-link), a GPU behind a narrower switch port or a far NUMA
    node shows up here. Pinned copies usually reach 70-90% of the link's rate.

    Sources: PCI-SIG base specifications (per-lane rates); NVIDIA H100/A100 datasheets (PCIe Gen5/Gen4 x16).
    """
    state = _deep_state(deep, probes, ("h2d", "d2h"), gpus)
    if isinstance(state, Finding):
        return state
    floor = float(ctx.setting("min_fraction"))
    out = []
    for m in state:
        gpu = _gpu(gpus, m.device)
        spec = gpu_spec(gpu.name if gpu else None) or {}
        peak = pcie_peak_gbs(spec.get("pcie_gen"), spec.get("pcie_width"))
        what = "pinned host-to-device copy" if m.kind == "h2d" else "pinned device-to-host copy"
        out.append(_bandwidth_finding(m, peak, what, _label(gpus, m.device), floor,
                                      "the PCIe link is trained down, shared, or the GPU is on a far NUMA node"))
    return out


@check("deep.p2p", "Peer-to-peer copies between GPUs work and are fast",
       settings={"min_gbs": Setting(float, 20.0, "warn below this many GB/s between two GPUs")})
def check_p2p(deep: Deep | None, gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...],
              ctx: Context) -> Finding | list[Finding]:
    """Peer-to-peer copy bandwidth between every pair of GPUs.

    Where peer access is unavailable NCCL stages through host memory; where it is available but slow the
    pair goes through a slow path (PCIe across sockets, a disabled NVLink). Warns below ``min_gbs``.

    Sources: https://docs.nvidia.com/cuda/cuda-runtime-api/group__CUDART__PEER.html
    """
    state = _deep_state(deep, probes, ("p2p",), gpus)
    if isinstance(state, Finding):
        if isinstance(state, Finding) and state.status.value == "unknown" and gpus is not None and len(gpus) < 2:
            return not_applicable("fewer than two GPUs: no peer-to-peer pair")
        return state
    floor = float(ctx.setting("min_gbs"))
    out = []
    for m in state:
        pair = f"GPU {m.device} -> GPU {m.peer}"
        if m.error or m.value is None:
            out.append(warn(f"{pair}: no peer-to-peer copy ({m.error}): NCCL stages through host memory", subject=f"GPU {m.device}"))
        elif m.value < floor:
            out.append(warn(f"{pair}: peer copy {m.value:.1f} GB/s (below {floor:g})", {"gbs": m.value}, subject=f"GPU {m.device}"))
        else:
            out.append(passed(f"{pair}: peer copy {m.value:.1f} GB/s", {"gbs": m.value}, subject=f"GPU {m.device}"))
    return out


@check("deep.jitter", "A fixed workload repeats with steady latency",
       settings={"max_cv": Setting(float, 0.05, "warn above this coefficient of variation"),
                 "max_slowest": Setting(float, 2.0, "warn when the slowest run exceeds the median by this factor")})
def check_jitter(deep: Deep | None, gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...],
                 ctx: Context) -> Finding | list[Finding]:
    """Latency jitter: the same matmul repeated, its coefficient of variation and slowest run.

    Steady inference needs a few percent of variation; throttling, another process on the GPU (a noisy
    neighbour) or host interrupts show up as a high coefficient of variation or a few very slow runs.
    The first run is a warm-up and is not counted.

    Sources: https://docs.nvidia.com/deploy/nvml-api/group__nvmlClocksEventReasons.html (what slows a GPU down).
    """
    state = _deep_state(deep, probes, ("jitter",), gpus)
    if isinstance(state, Finding):
        return state
    max_cv, max_slowest = float(ctx.setting("max_cv")), float(ctx.setting("max_slowest"))
    out = []
    for m in state:
        label = _label(gpus, m.device)
        if m.error or len(m.samples) < 2:
            out.append(unknown(f"{label}: jitter not measured: {m.error or 'too few runs'}", subject=label))
            continue
        stats = jitter_stats(m.samples)
        ev = {k: round(v, 4) for k, v in stats.items()} | {"runs": len(m.samples), "slowest_ms": sorted(m.samples)[-3:]}
        if stats["cv"] > max_cv or stats["slowest_over_median"] > max_slowest:
            out.append(warn(f"{label}: latency varies {stats['cv']:.1%} (CV) around {stats['median_ms']:.2f} ms, slowest "
                            f"run {stats['max_ms']:.2f} ms: throttling or another process disturbs the GPU", ev,
                            remedy="See health.clocks; look for other processes on the GPU (nvidia-smi).", subject=label))
        else:
            out.append(passed(f"{label}: steady latency, {stats['cv']:.1%} CV around {stats['median_ms']:.2f} ms "
                              f"(slowest {stats['max_ms']:.2f} ms)", ev, subject=label))
    return out
