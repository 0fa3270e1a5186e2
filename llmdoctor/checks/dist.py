"""torch.distributed launch variables: torchrun, SLURM and Open MPI agree with each other and the host."""

from __future__ import annotations

import re
from typing import Mapping  # noqa: UP035 (the engine compares with the snapshot's typing.Mapping)

from ..engine import check
from ..results import Finding, fail, passed, unknown, warn
from ..snapshot import Gpu

TORCHRUN = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
INTS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID",
        "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK")
# (rank variable, size variable, what the numbers mean)
RANK_BELOW_SIZE = (
    ("RANK", "WORLD_SIZE", "ranks run from 0 to WORLD_SIZE-1"),
    ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "local ranks run from 0 to LOCAL_WORLD_SIZE-1"),
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM task ids run from 0 to SLURM_NTASKS-1"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "MPI ranks run from 0 to size-1"),
)
LAUNCHERS = (("SLURM", "SLURM_NTASKS"), ("Open MPI", "OMPI_COMM_WORLD_SIZE"))


def visible_gpu_count(env: Mapping[str, str], gpus: tuple[Gpu, ...] | None) -> int | None:
    """How many GPUs a process sees: CUDA_VISIBLE_DEVICES's entries, else NVML's count (None: unknown)."""
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([p for p in cvd.split(",") if p.strip()])
    return len(gpus) if gpus is not None else None


@check("dist.launch", "torch.distributed launch variables are consistent", known_errors=True)
def check_launch(env: Mapping[str, str], gpus: tuple[Gpu, ...] | None) -> Finding | list[Finding]:
    """Do MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE/LOCAL_RANK agree with each other, the launcher and the host?

    torch.distributed's env:// initialisation (torchrun, accelerate, deepspeed) reads MASTER_ADDR,
    MASTER_PORT, RANK and WORLD_SIZE; LOCAL_RANK picks the GPU (cuda:LOCAL_RANK).  When a job runs under
    SLURM or Open MPI, their variables (SLURM_NTASKS, SLURM_PROCID, OMPI_COMM_WORLD_SIZE, ...) describe
    the same job and must agree.  A rank ≥ WORLD_SIZE, a port outside 1-65535 or a LOCAL_RANK without a
    GPU makes init hang until the timeout or fail with "invalid device ordinal".

    Verdicts: FAIL for values that cannot work (not an integer, rank ≥ size, port out of range); WARN for
    disagreements between torchrun, SLURM and Open MPI, a LOCAL_RANK at or above the visible GPU count,
    and half-set variables (MASTER_ADDR without MASTER_PORT).  PASS when nothing is set (not inside a
    launched job).

    Sources: PyTorch docs torch.distributed (environment variable initialization,
    https://pytorch.org/docs/stable/distributed.html) and torchrun (LOCAL_RANK, LOCAL_WORLD_SIZE,
    https://pytorch.org/docs/stable/elastic/run.html); SLURM sbatch/srun output environment variables
    (https://slurm.schedmd.com/sbatch.html); Open MPI mpirun (OMPI_COMM_WORLD_*).
    """
    present = [k for k in (*TORCHRUN, *INTS) if k in env]
    if not present:
        return passed("no launcher variables set (not inside a torchrun/SLURM/MPI job)")
    vals, findings = integers(env)
    findings += port_is_a_port(env) + addr_and_port_together(env)
    if ("RANK" in vals) != ("WORLD_SIZE" in vals) and not findings:
        findings.append(warn("RANK and WORLD_SIZE must be set together",
                             {k: env.get(k) for k in ("RANK", "WORLD_SIZE")}, subject="RANK"))
    findings += ranks_below_sizes(vals) + launchers_agree(vals)
    findings += local_ranks_have_gpus(env, vals, visible_gpu_count(env, gpus))
    if findings:
        return findings
    return passed("launch variables are consistent: " + ", ".join(f"{k}={env[k]}" for k in present),
                  {k: env[k] for k in present})


def integers(env: Mapping[str, str]) -> tuple[dict[str, int], list[Finding]]:
    """The rank/size variables as integers, and a failure for each one that is not a non-negative integer."""
    vals: dict[str, int] = {}
    findings: list[Finding] = []
    for name in INTS:
        if name not in env:
            continue
        v = env[name].strip()
        if re.fullmatch(r"\d+", v):
            vals[name] = int(v)
        else:
            findings.append(fail(f"{name}={env[name]!r} is not a non-negative integer", {name: env[name]},
                                 remedy=f"Set {name} to a non-negative integer (or let the launcher set it).",
                                 subject=name))
    return vals, findings


def port_is_a_port(env: Mapping[str, str]) -> list[Finding]:
    port = env.get("MASTER_PORT")
    if port is None or (re.fullmatch(r"\d+", port.strip()) and 1 <= int(port) <= 65535):
        return []
    return [fail(f"MASTER_PORT={port!r} is not a TCP port (1-65535)", {"MASTER_PORT": port},
                 remedy="Use a free port.", commands=("export MASTER_PORT=29500",), subject="MASTER_PORT")]


def addr_and_port_together(env: Mapping[str, str]) -> list[Finding]:
    if ("MASTER_ADDR" in env) == ("MASTER_PORT" in env):
        return []
    have, miss = ("MASTER_ADDR", "MASTER_PORT") if "MASTER_ADDR" in env else ("MASTER_PORT", "MASTER_ADDR")
    return [warn(f"{have} is set without {miss}: env:// initialisation needs both",
                 {have: env[have]}, remedy=f"Set {miss} too (export {miss}=...).", subject=miss)]


def ranks_below_sizes(vals: Mapping[str, int]) -> list[Finding]:
    out = []
    for rank, size, relation in RANK_BELOW_SIZE:
        if rank in vals and size in vals and vals[rank] >= vals[size]:
            out.append(fail(f"{rank}={vals[rank]} is not below {size}={vals[size]}: {relation}",
                            {rank: vals[rank], size: vals[size]},
                            remedy="Let the launcher set these, or fix the values.", subject=rank))
    if "LOCAL_WORLD_SIZE" in vals and "WORLD_SIZE" in vals and vals["LOCAL_WORLD_SIZE"] > vals["WORLD_SIZE"]:
        out.append(fail(f"LOCAL_WORLD_SIZE={vals['LOCAL_WORLD_SIZE']} exceeds WORLD_SIZE={vals['WORLD_SIZE']}",
                        {k: vals[k] for k in ("LOCAL_WORLD_SIZE", "WORLD_SIZE")}, subject="LOCAL_WORLD_SIZE"))
    return out


def launchers_agree(vals: Mapping[str, int]) -> list[Finding]:
    """torchrun's WORLD_SIZE against SLURM's / Open MPI's task count (one rank per task, or one torchrun per task)."""
    ws, lws = vals.get("WORLD_SIZE"), vals.get("LOCAL_WORLD_SIZE")
    out = []
    for launcher, size_var in LAUNCHERS:
        n = vals.get(size_var)
        if ws is None or n is None or ws in ({n} | ({n * lws} if lws else set())):
            continue
        out.append(warn(f"WORLD_SIZE={ws} disagrees with {size_var}={n} ({launcher}): ranks will wait for "
                        "peers that never start (init hangs until the timeout)",
                        {"WORLD_SIZE": ws, size_var: n, "LOCAL_WORLD_SIZE": lws},
                        remedy=f"Derive WORLD_SIZE from {size_var} (× --nproc_per_node when torchrun runs once per "
                               f"task).", subject="WORLD_SIZE"))
    if ("OMPI_COMM_WORLD_RANK" in vals and "RANK" in vals and lws is None
            and vals["RANK"] != vals["OMPI_COMM_WORLD_RANK"]):
        out.append(warn(f"RANK={vals['RANK']} differs from OMPI_COMM_WORLD_RANK={vals['OMPI_COMM_WORLD_RANK']}",
                        {"RANK": vals["RANK"], "OMPI_COMM_WORLD_RANK": vals["OMPI_COMM_WORLD_RANK"]}, subject="RANK"))
    return out


def local_ranks_have_gpus(env: Mapping[str, str], vals: Mapping[str, int], visible: int | None) -> list[Finding]:
    """LOCAL_RANK picks cuda:LOCAL_RANK, and NCCL wants one rank per GPU: both need enough visible GPUs."""
    lr, lws = vals.get("LOCAL_RANK"), vals.get("LOCAL_WORLD_SIZE")
    if visible is None:
        if lr is None and lws is None:
            return []
        return [unknown("how many GPUs this process sees is unknown (no GPU list, CUDA_VISIBLE_DEVICES not set), "
                        "so whether LOCAL_RANK / LOCAL_WORLD_SIZE fit the GPUs is unknown",
                        {"LOCAL_RANK": lr, "LOCAL_WORLD_SIZE": lws})]
    out = []
    if lr is not None and visible > 0 and lr >= visible:
        out.append(warn(f"LOCAL_RANK={lr} but only {visible} GPU(s) are visible: cuda:{lr} does not exist "
                        "('invalid device ordinal') unless the program maps ranks to GPUs itself",
                        {"LOCAL_RANK": lr, "visible_gpus": visible,
                         "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES")},
                        remedy=f"Start at most one process per visible GPU (torchrun --nproc_per_node={visible}).",
                        subject="LOCAL_RANK"))
    if lws is not None and visible > 0 and lws > visible and "CUDA_VISIBLE_DEVICES" not in env:
        out.append(warn(f"LOCAL_WORLD_SIZE={lws} processes share {visible} GPU(s): NCCL refuses several ranks on one "
                        "GPU ('Duplicate GPU detected')", {"LOCAL_WORLD_SIZE": lws, "gpus": visible},
                        remedy=f"Start one process per GPU (torchrun --nproc_per_node={visible}).",
                        subject="LOCAL_WORLD_SIZE"))
    return out
