"""Where this process sits in the job, from the launcher's variables (torchrun, srun, mpirun, PyTorchJob).

torchrun and the Kubernetes PyTorchJob/JobSet operators set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; srun sets SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; Open MPI's mpirun sets
OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK.  Under srun and mpirun MASTER_ADDR
and MASTER_PORT must still be exported (docs/cluster.md shows how); no launcher at all is a single rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..engine import UsageError
from ..frozen import frozen

DEFAULT_PORT = 29500

# (launcher, rank, world size, local rank, local world size)
_SCHEMES = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
    ("srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
    ("mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),
)


@frozen
class Launch:
    launcher: str  # torchrun | srun | mpirun | single
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    agent_store: bool = False  # torchrun's agent hosts the store (TORCHELASTIC_USE_AGENT_STORE)
    run_id: str = "llmdoctor"


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name].split("(")[0])
    except ValueError:
        raise UsageError(f"{name}={environ[name]!r} is not an integer") from None


def from_environ(environ: Mapping[str, str]) -> Launch:
    """The launch this process is part of (a single rank when no launcher variables are set)."""
    for launcher, rank_var, size_var, local_var, _ in _SCHEMES:
        if rank_var in environ and size_var in environ:
            return _launch(environ, launcher, _int(environ, rank_var), _int(environ, size_var),
                           _int(environ, local_var) if local_var in environ else 0)
    return _launch(environ, "single", 0, 1, 0)


def _launch(environ: Mapping[str, str], launcher: str, rank: int, world: int, local: int) -> Launch:
    if world < 1 or not 0 <= rank < world:
        raise UsageError(f"rank {rank} is outside a world of {world} ranks ({launcher} variables)")
    addr = environ.get("MASTER_ADDR") or environ.get("SLURM_LAUNCH_NODE_IPADDR") or "127.0.0.1"
    if world > 1 and "MASTER_ADDR" not in environ and launcher != "srun":
        raise UsageError(f"{launcher}: MASTER_ADDR is not set; export the address of rank 0's node")
    port = _int(environ, "MASTER_PORT") if "MASTER_PORT" in environ else DEFAULT_PORT
    run_id = environ.get("TORCHELASTIC_RUN_ID") or environ.get("SLURM_JOB_ID") or "llmdoctor"
    restart = environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return Launch(launcher, rank, world, local, addr, port,
                  agent_store=environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True", run_id=f"{run_id}.{restart}")
