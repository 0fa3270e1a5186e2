"""Memory: the fit planner (pure), snapshot analysis, and the in-job API.

In a training script::

    from llmdoctor import memory
    memory.report()                      # summary of torch.cuda.memory_stats() of this process
    with memory.watch("oom.pickle"):     # on an out-of-memory error: dump the snapshot, print the analysis
        train()

torch is imported only inside these functions; ``import llmdoctor.memory`` stays light.
"""

from __future__ import annotations

from .injob import report, watch

__all__ = ["report", "watch"]
