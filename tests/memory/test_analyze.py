"""Fragmentation analysis of torch-format snapshots; hostile pickles are refused without running anything."""

from __future__ import annotations

import os
import pickle
import pickletools

import pytest

from llmdoctor.engine import UsageError
from llmdoctor.memory.analyze import analyze, safe_load

from conftest import requires_torch, run_cli
from .helpers import MiB, torch_format_snapshot


@pytest.mark.parametrize("state", ["active_pending_free", "active_awaiting_free"])
def test_numbers(state):
    r = analyze(safe_load(pickle.dumps(torch_format_snapshot(state))))
    assert r["reserved"] == 42 * MiB and r["allocated"] == 24 * MiB
    assert r["pending_free"] == 2 * MiB and r["active"] == 26 * MiB
    assert r["inactive_split"] == 14 * MiB  # free pieces inside the segment with live blocks; not the empty small one
    assert r["fragmentation"] == pytest.approx(14 / 42)
    assert r["largest_free_block"] == 8 * MiB and r["free_blocks"] == 3
    assert r["oom"] == {"device": 0, "requested": 12 * MiB, "device_free": 1 * MiB, "site": "model.py:88 (attention)"}
    assert r["top_sites"][0] == {"site": "train.py:42 (step)", "bytes": 20 * MiB, "allocations": 1}
    assert any("fragmentation" in t for t in r["recommendations"])
    assert any("expandable_segments:True" in t for t in r["recommendations"])
    assert sum(h["blocks"] for h in r["histogram"]) == 3


@requires_torch
def test_agrees_with_torchs_own_memory_viz_tooling():
    """torch's own _memory_viz reads the same structure and reports the same reserved/allocated totals."""
    from torch.cuda import _memory_viz

    snap = torch_format_snapshot()
    text = _memory_viz.segsum(snap)
    r = analyze(snap)
    assert "total_reserved: 42.0MiB" in text and r["reserved"] == 42 * MiB
    assert "total_allocated: 24.0MiB" in text and r["allocated"] == 24 * MiB
    assert "total_free: 18.0MiB" in text and r["reserved"] - r["allocated"] == 18 * MiB


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _hostile_pickles():
    yield pickle.dumps(Boom())
    yield pickle.dumps({"segments": [Boom()]})
    yield pickle.dumps({"segments": []}, protocol=0).replace(b"(dp0", b"cposix\nsystem\n(S'touch PWNED'\ntR(dp0")
    yield pickle.dumps(set([1, 2]))  # builds a set without a global: refused by the type walk


@pytest.mark.parametrize("raw", list(_hostile_pickles()))
def test_hostile_pickles_refused_and_not_executed(raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="refusing"):
        safe_load(raw)
    assert not (tmp_path / "PWNED").exists()


def test_cli_refuses_hostile_file_one_line_exit_2(tmp_path):
    bad = tmp_path / "snap.pickle"
    bad.write_bytes(pickle.dumps({"segments": [Boom()]}))
    proc = run_cli("memory", "analyze", str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "refusing to load posix.system" in proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_cli_analyze_text_and_json(tmp_path):
    f = tmp_path / "snap.pickle"
    f.write_bytes(pickle.dumps(torch_format_snapshot()))
    proc = run_cli("memory", "analyze", str(f))
    assert proc.returncode == 0, proc.stderr
    assert "fragmentation 33.3% of reserved" in proc.stdout and "this OOM is fragmentation" in proc.stdout
    import json

    proc = run_cli("memory", "analyze", str(f), "--json")
    assert json.loads(proc.stdout)["reserved"] == 42 * MiB


def test_not_a_snapshot(tmp_path):
    f = tmp_path / "x.pickle"
    f.write_bytes(pickle.dumps({"hello": 1}))
    proc = run_cli("memory", "analyze", str(f))
    assert proc.returncode == 2 and "no 'segments' list" in proc.stderr
    f.write_bytes(b"garbage")
    proc = run_cli("memory", "analyze", str(f))
    assert proc.returncode == 2 and "not a readable pickle" in proc.stderr
