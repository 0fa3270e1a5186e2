"""In-job API: runs inside the training script's process; torch is imported only when called."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator


def report(device: Any = None, file: Any = None) -> dict[str, Any]:
    """Print (to stderr by default) and return the memory summary of this process from torch.cuda.memory_stats()."""
    import torch

    from ..units import format_bytes
    from .analyze import analyze_stats

    out = file or sys.stderr
    if not torch.cuda.is_available():
        print("llmdoctor.memory: CUDA is not available in this process; nothing to report", file=out)
        return {}
    r = analyze_stats(torch.cuda.memory_stats(device))
    def mib(key: str, suffix: bool = True) -> str:
        return format_bytes(r[key], unit="MiB", decimals=0, suffix=suffix)

    print(f"llmdoctor.memory: allocated {mib('allocated')} (peak {mib('peak_allocated', False)}), "
          f"reserved {mib('reserved')} (peak {mib('peak_reserved', False)}), inactive split "
          f"{mib('inactive_split')} (fragmentation {r['fragmentation']:.1%}), alloc retries "
          f"{r['alloc_retries']}, OOMs {r['ooms']}", file=out)
    if r["alloc_retries"] or r["fragmentation"] > 0.1:
        print("llmdoctor.memory: consider PYTORCH_ALLOC_CONF=expandable_segments:True", file=out)
    return r


@contextlib.contextmanager
def watch(path: str = "oom_snapshot.pickle", max_entries: int = 100000, file: Any = None) -> Iterator[None]:
    """Record allocation history; on an out-of-memory error dump the snapshot to ``path``, print the analysis, re-raise."""
    import torch

    from .analyze import analyze, render_text

    out = file or sys.stderr
    recording = torch.cuda.is_available()
    if recording:
        torch.cuda.memory._record_memory_history(max_entries=max_entries)
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        if recording:
            snap = torch.cuda.memory._snapshot()
            import pickle

            with open(path, "wb") as fh:
                pickle.dump(snap, fh)
            print(f"llmdoctor.memory: out of memory; snapshot written to {path} (view at https://pytorch.org/memory_viz)",
                  file=out)
            print(render_text(analyze(snap)), file=out, end="")
        raise
    finally:
        if recording:
            torch.cuda.memory._record_memory_history(enabled=None)
