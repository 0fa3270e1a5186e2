"""A worker that outlives its budget says so with the real budget ("0.5 s", not "0s")."""

from __future__ import annotations

import time

import pytest

from llmdoctor.probes import collect, torch_probe
from llmdoctor.probes.target_runner import WorkerFailed, run_worker


def test_worker_timeout_names_the_budget(tmp_path):
    slow = tmp_path / "python"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(WorkerFailed) as err:
        run_worker(str(slow), "torch", 0.5)
    assert str(err.value) == "timed out after 0.5 s"


def test_collector_timeout_names_the_budget(monkeypatch):
    def hang(*args: object, **kwargs: object):
        time.sleep(3)

    monkeypatch.setenv("LLMDOCTOR_TORCH_CACHE", "off")  # where a torch facts cache exists, it is not asked
    monkeypatch.setattr(torch_probe, "probe_torch", hang)
    monkeypatch.setattr(torch_probe, "probe_torch_cached", hang, raising=False)
    snap = collect(timeout=0.5)
    record = next(p for p in snap.probes if p.name == "torch")
    assert not record.ok and record.reason == "torch probe timed out after 0.5 s"
