"""Tests that need a real NVIDIA GPU (run by scripts/gpu-smoke.sh; skipped elsewhere)."""

import pytest

from llmdoctor.probes import collect

pytestmark = pytest.mark.gpu


def _snapshot_or_skip():
    snap = collect(timeout=60)
    if not snap.gpus:
        pytest.skip("no NVIDIA GPU here")
    return snap


def test_nvml_probe_reports_real_gpus():
    snap = _snapshot_or_skip()
    driver = snap.driver
    assert driver.version and driver.cuda_version
    for gpu in snap.gpus:
        assert gpu.compute_capability and gpu.memory_total and gpu.uuid.startswith(("GPU-", "MIG-"))


def test_every_gpu_name_is_in_the_compute_capability_table():
    from llmdoctor import data

    snap = _snapshot_or_skip()
    for gpu in snap.gpus:
        row = data.gpu_by_name(gpu.name)
        assert row is not None, gpu.name
        assert row["compute_capability"] == gpu.compute_capability, gpu.name


def test_cuda_torch_agrees_with_nvml():
    snap = _snapshot_or_skip()
    t = snap.torch
    if not t or not t.installed or not t.cuda:
        pytest.skip("no CUDA torch installed")
    assert t.cuda_available is True
    assert [d.capability for d in t.devices] == [g.compute_capability for g in snap.gpus]
