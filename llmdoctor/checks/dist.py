"""torch.distributed launch variables: torchrun, SLURM and Open MPI agree with each other and the host."""

from __future__ import annotations

import re

from ..engine import Context, check
from ..results import fail, passed, warn
from ..snapshot import Snapshot

TORCHRUN = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
INTS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID",
        "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK")


def _visible_gpus(snap: Snapshot) -> int | None:
    env = snap.env or {}
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([p for p in cvd.split(",") if p.strip()])
    return len(snap.gpus) if snap.gpus is not None else None


@check("dist.launch", "torch.distributed launch variables are consistent", needs=("env",))
def check_launch(snap: Snapshot, ctx: Context):
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

    Sources: PyTorch docs torch.distributed (environment variable initialization) and torchrun
    (LOCAL_RANK, LOCAL_WORLD_SIZE); SLURM sbatch/srun output environment variables; Open MPI mpirun
    (OMPI_COMM_WORLD_*).
    """
    env = snap.env or {}
    present = [k for k in (*TORCHRUN, *INTS) if k in env]
    if not present:
        return passed("no launcher variables set (not inside a torchrun/SLURM/MPI job)")
    findings = []
    vals: dict[str, int] = {}
    for name in INTS:
        if name in env:
            v = env[name].strip()
            if re.fullmatch(r"\d+", v):
                vals[name] = int(v)
            else:
                findings.append(fail(f"{name}={env[name]!r} is not a non-negative integer", {name: env[name]},
                                     remedy=f"Set {name} to a non-negative integer (or let the launcher set it).",
                                     subject=name))
    port = env.get("MASTER_PORT")
    if port is not None:
        if not re.fullmatch(r"\d+", port.strip()) or not 1 <= int(port) <= 65535:
            findings.append(fail(f"MASTER_PORT={port!r} is not a TCP port (1-65535)", {"MASTER_PORT": port},
                                 remedy="Use a free port, e.g. export MASTER_PORT=29500.", subject="MASTER_PORT"))
    if ("MASTER_ADDR" in env) != ("MASTER_PORT" in env):
        have, miss = ("MASTER_ADDR", "MASTER_PORT") if "MASTER_ADDR" in env else ("MASTER_PORT", "MASTER_ADDR")
        findings.append(warn(f"{have} is set without {miss}: env:// initialisation needs both",
                             {have: env[have]}, remedy=f"export {miss}=...", subject=miss))
    if ("RANK" in vals) != ("WORLD_SIZE" in vals) and not findings:
        findings.append(warn("RANK and WORLD_SIZE must be set together", {k: env.get(k) for k in ("RANK", "WORLD_SIZE")},
                             subject="RANK"))

    def pair(a: str, b: str, relation: str) -> None:
        if a in vals and b in vals and vals[a] >= vals[b]:
            findings.append(fail(f"{a}={vals[a]} is not below {b}={vals[b]}: {relation}", {a: vals[a], b: vals[b]},
                                 remedy="Let the launcher set these, or fix the values.", subject=a))

    pair("RANK", "WORLD_SIZE", "ranks run from 0 to WORLD_SIZE-1")
    pair("LOCAL_RANK", "LOCAL_WORLD_SIZE", "local ranks run from 0 to LOCAL_WORLD_SIZE-1")
    if "LOCAL_WORLD_SIZE" in vals and "WORLD_SIZE" in vals and vals["LOCAL_WORLD_SIZE"] > vals["WORLD_SIZE"]:
        findings.append(fail(f"LOCAL_WORLD_SIZE={vals['LOCAL_WORLD_SIZE']} exceeds WORLD_SIZE={vals['WORLD_SIZE']}",
                             {k: vals[k] for k in ("LOCAL_WORLD_SIZE", "WORLD_SIZE")}, subject="LOCAL_WORLD_SIZE"))
    pair("SLURM_PROCID", "SLURM_NTASKS", "SLURM task ids run from 0 to SLURM_NTASKS-1")
    pair("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "MPI ranks run from 0 to size-1")
    ws = vals.get("WORLD_SIZE")
    lws = vals.get("LOCAL_WORLD_SIZE")
    for launcher, size_var in (("SLURM", "SLURM_NTASKS"), ("Open MPI", "OMPI_COMM_WORLD_SIZE")):
        n = vals.get(size_var)
        if ws is None or n is None:
            continue
        ok = {n} | ({n * lws} if lws else set())  # one task per rank, or one torchrun per task
        if ws not in ok:
            findings.append(warn(f"WORLD_SIZE={ws} disagrees with {size_var}={n} ({launcher}): ranks will wait for "
                                 "peers that never start (init hangs until the timeout)",
                                 {"WORLD_SIZE": ws, size_var: n, "LOCAL_WORLD_SIZE": lws},
                                 remedy=f"Derive WORLD_SIZE from {size_var} (× --nproc_per_node when torchrun runs once per task).",
                                 subject="WORLD_SIZE"))
    if "OMPI_COMM_WORLD_RANK" in vals and "RANK" in vals and lws is None and vals["RANK"] != vals["OMPI_COMM_WORLD_RANK"]:
        findings.append(warn(f"RANK={vals['RANK']} differs from OMPI_COMM_WORLD_RANK={vals['OMPI_COMM_WORLD_RANK']}",
                             {"RANK": vals["RANK"], "OMPI_COMM_WORLD_RANK": vals["OMPI_COMM_WORLD_RANK"]}, subject="RANK"))
    visible = _visible_gpus(snap)
    lr = vals.get("LOCAL_RANK")
    if lr is not None and visible is not None and visible > 0 and lr >= visible:
        findings.append(warn(f"LOCAL_RANK={lr} but only {visible} GPU(s) are visible: cuda:{lr} does not exist "
                             "('invalid device ordinal') unless the program maps ranks to GPUs itself",
                             {"LOCAL_RANK": lr, "visible_gpus": visible, "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES")},
                             remedy="Start at most one process per visible GPU (torchrun --nproc_per_node=<GPUs>).",
                             subject="LOCAL_RANK"))
    if lws is not None and visible is not None and visible > 0 and lws > visible and "CUDA_VISIBLE_DEVICES" not in env:
        findings.append(warn(f"LOCAL_WORLD_SIZE={lws} processes share {visible} GPU(s): NCCL refuses several ranks on one GPU "
                             "('Duplicate GPU detected')", {"LOCAL_WORLD_SIZE": lws, "gpus": visible},
                             remedy=f"torchrun --nproc_per_node={visible}", subject="LOCAL_WORLD_SIZE"))
    if findings:
        return findings
    return passed("launch variables are consistent", {k: env[k] for k in present})
