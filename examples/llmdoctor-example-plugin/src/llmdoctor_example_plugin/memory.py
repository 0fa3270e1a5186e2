"""Host memory per GPU: a pure function of the snapshot parts it reads, like every llmdoctor check."""

from __future__ import annotations

from llmdoctor.engine import Context, Setting, check
from llmdoctor.results import Finding, fail, not_applicable, passed, unknown
from llmdoctor.snapshot import Gpu, Host


@check("example.ram-per-gpu", "Host RAM per GPU is enough to stage checkpoints",
       settings={"min_gib": Setting(float, 32.0, "least host RAM per GPU, in GiB", flag="--min-ram-per-gpu")})
def ram_per_gpu(host: Host, gpus: tuple[Gpu, ...], ctx: Context) -> Finding:
    """Is there at least `min_gib` GiB of host RAM per GPU?

    Loading a checkpoint stages its shards in host memory first; with too little RAM per GPU the
    loader swaps or is OOM-killed before the first step.  Set the threshold with
    `[checks."example.ram-per-gpu"] min_gib = 64` or `llmdoctor check --min-ram-per-gpu 64`.

    Fix: load with memory-mapped safetensors, load fewer ranks at once, or use a larger host.
    """
    if not gpus:
        return not_applicable("no NVIDIA GPU on this host")
    if host.ram_total is None:
        return unknown("host RAM total was not read")
    minimum = float(ctx.setting("min_gib"))
    per_gpu = host.ram_total / len(gpus) / 2**30
    evidence = {"ram_total_gib": round(host.ram_total / 2**30, 1), "gpus": len(gpus),
                "per_gpu_gib": round(per_gpu, 1), "min_gib": minimum}
    if per_gpu >= minimum:
        return passed(f"{per_gpu:.0f} GiB of RAM per GPU (at least {minimum:g})", evidence)
    return fail(f"only {per_gpu:.0f} GiB of RAM per GPU, less than {minimum:g}", evidence,
                remedy="Load checkpoints memory-mapped (safetensors), stagger rank loading, or use a larger host.")
