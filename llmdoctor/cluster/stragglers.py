"""Stragglers: every rank times the same fixed work; one slower than a multiple of the median is named."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from .model import StragglerSample
from ..frozen import frozen


@frozen
class Straggler:
    rank: int
    host: str | None
    metric: str  # "matmul" | "allreduce"
    seconds: float
    median: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.median if self.median > 0 else float("inf")


def find_stragglers(samples: Sequence[StragglerSample], multiple: float) -> list[Straggler]:
    """Ranks whose time exceeds ``multiple`` x the median of all ranks, per metric, slowest first."""
    out: list[Straggler] = []
    for metric in ("matmul", "allreduce"):
        times = [(s, getattr(s, f"{metric}_seconds")) for s in samples]
        known = [(s, t) for s, t in times if t is not None]
        if len(known) < 2:
            continue
        median = statistics.median(t for _, t in known)
        out.extend(Straggler(s.rank, s.host, metric, t, median) for s, t in known if t > multiple * median)
    return sorted(out, key=lambda s: -s.ratio)


def median_of(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def time_fixed_work(dist: Any, torch: Any, device: Any, slow: float = 1.0, iters: int = 5,
                    size: int | None = None, group: Any = None) -> tuple[float, float]:
    """(matmul seconds, all-reduce seconds) per iteration for the same work on every rank.

    ``slow`` > 1 stretches this rank's matmul time (tests only: LLMDOCTOR_CLUSTER_TEST_RANK<k>).
    """
    import time

    n = size or (4096 if device.type == "cuda" else 256)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync: Callable[[], None] = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    torch.matmul(a, b)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        torch.matmul(a, b)
    sync()
    matmul = (time.perf_counter() - t0) / iters
    if slow > 1:
        time.sleep(matmul * iters * (slow - 1))
        matmul *= slow
    tensor = torch.ones(2**20, device=device)  # 4 MiB
    dist.all_reduce(tensor, group=group)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(tensor, group=group)
    sync()
    return matmul, (time.perf_counter() - t0) / iters
