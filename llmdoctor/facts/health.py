"""Pure health rules shared by the health probes and the health/deep checks: XID log lines, jitter."""

from __future__ import annotations

import re
from typing import Iterable

from ..snapshot import XidEvent

XID_LINE = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.\d)?)\): (\d+)")
MAX_LINE = 400


def parse_xid_lines(lines: Iterable[str], source: str = "kernel-log") -> tuple[XidEvent, ...]:
    """The XID lines of a kernel log, kept verbatim (long lines cut at 400 characters)."""
    events = []
    for line in lines:
        match = XID_LINE.search(line)
        if match:
            events.append(XidEvent(xid=int(match.group(2)), source=source, pci_bus_id=match.group(1).lower(),
                                   text=line.rstrip()[:MAX_LINE]))
    return tuple(events)


def jitter_stats(samples_ms: Iterable[float]) -> dict[str, float]:
    """Mean, coefficient of variation, and the slowest sample against the median, of repeated runs."""
    import statistics  # only measured runs (--deep) have samples: not a start-up cost

    values = [float(v) for v in samples_ms]
    if len(values) < 2:
        raise ValueError("jitter needs at least two samples")
    mean = statistics.fmean(values)
    median = statistics.median(values)
    return {"mean_ms": mean, "cv": statistics.pstdev(values) / mean if mean > 0 else 0.0,
            "median_ms": median, "max_ms": max(values), "slowest_over_median": max(values) / median if median else 0.0}
