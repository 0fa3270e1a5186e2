"""Host limits a training job runs into: the open-file limit (DataLoader workers, NCCL sockets)."""

from __future__ import annotations

from .. import data
from ..engine import Context, Setting, check
from ..results import Finding, passed, unknown, warn
from ..snapshot import Host

SHARING = "torch.multiprocessing.set_sharing_strategy('file_system')"


def _floor() -> int:
    return int(data.load("host_limits")["open_files"]["min_soft"])


@check("host.open-files", "The open-file limit leaves room for data-loader workers",
       settings={"min_soft": Setting(int, 0, "warn below this soft limit (0: the table's floor, 8192)")})
def check_open_files(host: Host, ctx: Context) -> Finding:
    """Is the open-file limit (ulimit -n) high enough for DataLoader workers and NCCL?

    With `num_workers > 0`, each batch a DataLoader worker returns travels as a shared-memory file
    descriptor over a Unix socket (torch's default `file_descriptor` sharing strategy).  At the process's
    open-file limit the kernel silently drops one and the job dies with "RuntimeError: received 0 items of
    ancdata" or "Too many open files", often hours in.  Many distributions and clusters default to a soft
    limit of 1024.  NCCL's sockets and InfiniBand queues take descriptors too.

    It warns when the soft limit is below 8192 (configurable); when the hard limit allows more, raising
    the soft limit is one command; otherwise the hard limit must be raised (limits.conf, the container's
    `--ulimit`, Slurm's `PropagateResourceLimits`) or the job can switch torch to the `file_system`
    sharing strategy.

    Sources: pytorch/pytorch#973, pytorch/pytorch#34768, pytorch/pytorch#11201, pytorch/pytorch#14768,
    pytorch/pytorch#165532; https://pytorch.org/docs/stable/multiprocessing.html#sharing-strategies .
    """
    soft, hard = host.nofile_soft, host.nofile_hard
    floor = int(ctx.setting("min_soft") or 0) or _floor()
    evidence = {"nofile_soft": soft, "nofile_hard": hard, "min_soft": floor}
    if soft is None:
        return unknown("the open-file limit was not read", evidence)
    if soft < 0 or soft >= floor:
        return passed(f"open-file limit {'unlimited' if soft < 0 else soft} (soft) ≥ {floor}", evidence)
    if hard is not None and (hard < 0 or hard >= floor):
        return warn(f"The open-file soft limit is {soft} (< {floor}): DataLoader workers can fail with "
                    f"'received 0 items of ancdata' / 'Too many open files'; the hard limit ({'unlimited' if hard < 0 else hard}) allows more",
                    evidence, remedy="Raise the soft limit in the job's shell before it starts.",
                    commands=[f"ulimit -n {floor if hard < 0 else min(hard, max(floor, soft))}"],
                    links=["https://pytorch.org/docs/stable/multiprocessing.html#sharing-strategies"])
    return warn(f"The open-file limit is {soft} (hard {hard if hard is not None else 'unknown'}), below {floor}: "
                f"DataLoader workers can fail with 'received 0 items of ancdata' / 'Too many open files'",
                evidence, remedy="Raise the hard limit (limits.conf, docker run --ulimit, the Kubernetes runtime's "
                                 "default) or use the file_system sharing strategy in the job.",
                commands=[f"docker run --ulimit nofile={floor}:{floor} ...", f"python -c \"import torch.multiprocessing as mp; mp.{SHARING.split('.', 2)[2]}\""],
                links=["https://pytorch.org/docs/stable/multiprocessing.html#sharing-strategies"])
