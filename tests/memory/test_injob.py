"""The in-job API with torch's CUDA calls replaced (CPU torch): OOM -> snapshot dumped, analysis printed, re-raised."""

from __future__ import annotations

import io
import pickle

import pytest

from conftest import requires_torch

from .helpers import MiB, torch_format_snapshot


@requires_torch
def test_watch_dumps_and_analyses_on_oom(tmp_path, monkeypatch):
    import torch

    from llmdoctor import memory

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda.memory, "_record_memory_history", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(torch.cuda.memory, "_snapshot", lambda *a, **k: torch_format_snapshot())
    out = io.StringIO()
    path = tmp_path / "oom.pickle"
    with pytest.raises(torch.cuda.OutOfMemoryError):
        with memory.watch(str(path), file=out):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.00 MiB")
    assert pickle.loads(path.read_bytes())["segments"][0]["total_size"] == 40 * MiB
    text = out.getvalue()
    assert "snapshot written to" in text and "this OOM is fragmentation" in text
    assert calls[0][1] == {"max_entries": 100000} and calls[-1][1] == {"enabled": None}  # recording stopped again


@requires_torch
def test_watch_leaves_other_errors_alone(tmp_path, monkeypatch):
    import torch

    from llmdoctor import memory

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda.memory, "_record_memory_history", lambda *a, **k: None)
    with pytest.raises(KeyError):
        with memory.watch(str(tmp_path / "x.pickle"), file=io.StringIO()):
            raise KeyError("not memory")
    assert not (tmp_path / "x.pickle").exists()


@requires_torch
def test_report_from_memory_stats(monkeypatch):
    import torch

    from llmdoctor import memory

    stats = {"reserved_bytes.all.current": 1000 * MiB, "allocated_bytes.all.current": 600 * MiB,
             "active_bytes.all.current": 620 * MiB, "inactive_split_bytes.all.current": 300 * MiB,
             "allocated_bytes.all.peak": 900 * MiB, "reserved_bytes.all.peak": 1200 * MiB, "num_alloc_retries": 3,
             "num_ooms": 0, "segment.all.current": 12}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda device=None: stats)
    out = io.StringIO()
    r = memory.report(file=out)
    assert r["fragmentation"] == pytest.approx(0.3) and r["cached_free"] == 380 * MiB
    assert "fragmentation 30.0%" in out.getvalue() and "expandable_segments:True" in out.getvalue()
