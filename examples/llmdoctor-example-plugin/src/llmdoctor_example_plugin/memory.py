"""Host memory per GPU: a pure function of the snapshot, like every llmdoctor check."""

from llmdoctor.engine import check
from llmdoctor.results import fail, passed, skip


@check("example.ram-per-gpu", "Host RAM per GPU is enough to stage checkpoints", needs=("host", "gpus"),
       settings={"min_gib": (float, 32.0, "least host RAM per GPU, in GiB")})
def ram_per_gpu(snap, ctx):
    """Is there at least `min_gib` GiB of host RAM per GPU?

    Loading a checkpoint stages its shards in host memory first; with too little RAM per GPU the
    loader swaps or is OOM-killed before the first step.  Set the threshold with
    `[checks."example.ram-per-gpu"] min_gib = 64`.

    Fix: load with memory-mapped safetensors, load fewer ranks at once, or use a larger host.
    """
    if not snap.gpus:
        return skip("no NVIDIA GPU on this host")
    if snap.host.ram_total is None:
        return skip("host RAM unknown")
    minimum = ctx.option("example.ram-per-gpu.min_gib", 32.0)
    per_gpu = snap.host.ram_total / len(snap.gpus) / 2**30
    evidence = {"ram_total_gib": round(snap.host.ram_total / 2**30, 1), "gpus": len(snap.gpus),
                "per_gpu_gib": round(per_gpu, 1), "min_gib": minimum}
    if per_gpu >= minimum:
        return passed(f"{per_gpu:.0f} GiB of RAM per GPU (at least {minimum:g})", evidence)
    return fail(f"only {per_gpu:.0f} GiB of RAM per GPU, less than {minimum:g}", evidence,
                remedy="Load checkpoints memory-mapped (safetensors), stagger rank loading, or use a larger host.")
