"""deep.*: the math on injected timings, the verdicts against spec, and the CPU smoke mode end to end."""

from __future__ import annotations

import sys

import pytest

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.probes.deep import (bandwidth_gbs, deep_from_worker, jitter_stats, matmul_tflops, measure_from_row,
                                   probe_deep)
from llmdoctor.results import Status
from llmdoctor.snapshot import Deep, Gpu, ProbeResult, Snapshot

from conftest import has_torch

H100 = Gpu(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
A100 = Gpu(index=1, name="NVIDIA A100-SXM4-80GB", compute_capability="8.0")


def run(check_id: str, snap: Snapshot, **options):
    return run_check(load_registry().get(check_id), snap, Context(options))


def with_rows(rows, gpus=(H100,)) -> Snapshot:
    return Snapshot(gpus=gpus, deep=deep_from_worker({"mode": "gpu", "rows": rows, "seconds": 12.0}))


def matmul_row(dtype: str, tflops: float, n: int = 8192, iters: int = 20, device: int = 0) -> dict:
    """A worker row whose timing gives exactly ``tflops``."""
    return {"kind": "matmul", "device": device, "dtype": dtype, "n": n, "iters": iters,
            "seconds": 2 * n ** 3 * iters / (tflops * 1e12)}


def test_the_math():
    assert matmul_tflops(8192, 10, 2 * 8192 ** 3 * 10 / 800e12) == pytest.approx(800.0)
    assert bandwidth_gbs(2 << 30, 10, 10 * (2 << 30) / 2800e9) == pytest.approx(2800.0)
    stats = jitter_stats([10.0, 10.0, 10.0, 30.0])
    assert stats["mean_ms"] == 15.0 and stats["median_ms"] == 10.0 and stats["max_ms"] == 30.0
    assert stats["cv"] == pytest.approx(8.660254 / 15.0, rel=1e-5)
    assert stats["slowest_over_median"] == 3.0
    with pytest.raises(ValueError):
        jitter_stats([1.0])


def test_a_row_without_completed_iterations_is_an_error_not_a_figure():
    m = measure_from_row({"kind": "membw", "device": 0, "bytes": 1 << 30, "iters": 0, "seconds": 0.0})
    assert m.value is None and "no iteration" in m.error


@pytest.mark.parametrize("tflops, status", [(850.0, Status.PASS), (600.0, Status.PASS), (500.0, Status.WARN)])
def test_matmul_against_the_published_peak(tflops, status):
    result = run("deep.matmul", with_rows([matmul_row("bf16", tflops)]))
    assert result.status is status
    assert "989.4" in result.findings[0].message


def test_tf32_far_below_peak_names_tf32_off():
    result = run("deep.matmul", with_rows([matmul_row("tf32", 60.0)]))
    assert result.status is Status.WARN and "TF32 disabled" in result.findings[0].message


def test_the_threshold_is_a_setting():
    assert run("deep.matmul", with_rows([matmul_row("bf16", 500.0)]), **{"deep.matmul.min_fraction": 0.5}).status is Status.PASS


def test_unknown_model_is_not_passed():
    gpu = Gpu(index=0, name="NVIDIA GeForce RTX 4090")
    assert run("deep.matmul", with_rows([matmul_row("bf16", 150.0)], gpus=(gpu,))).status is Status.UNKNOWN


def test_memory_and_host_bandwidth_against_spec():
    rows = [{"kind": "membw", "device": 0, "bytes": 2 << 30, "iters": 10, "seconds": 10 * (2 << 30) / 1500e9},
            {"kind": "h2d", "device": 0, "bytes": 256 << 20, "iters": 10, "seconds": 10 * (256 << 20) / 20e9, "pinned": True},
            {"kind": "d2h", "device": 0, "bytes": 256 << 20, "iters": 10, "seconds": 10 * (256 << 20) / 55e9, "pinned": True}]
    snap = with_rows(rows)
    membw = run("deep.memory-bandwidth", snap)
    assert membw.status is Status.WARN and "of 3350 GB/s" in membw.findings[0].message
    host = run("deep.host-transfer", snap)
    h2d, d2h = host.findings
    assert h2d.status is Status.WARN and "of 63.008 GB/s" in h2d.message  # Gen5 x16: 3.938 GB/s x 16
    assert d2h.status is Status.PASS


def test_p2p_pairs():
    rows = [{"kind": "p2p", "device": 0, "peer": 1, "bytes": 256 << 20, "iters": 10, "seconds": 10 * (256 << 20) / 300e9},
            {"kind": "p2p", "device": 1, "peer": 0, "error": "peer access not available"}]
    result = run("deep.p2p", with_rows(rows, gpus=(H100, A100)))
    assert [f.status for f in result.findings] == [Status.PASS, Status.WARN]


def test_jitter_verdicts():
    steady = {"kind": "jitter", "device": 0, "n": 4096, "samples": [0.010] * 48 + [0.0102, 0.0101]}
    noisy = {"kind": "jitter", "device": 0, "n": 4096, "samples": [0.010] * 45 + [0.040] * 5}
    assert run("deep.jitter", with_rows([steady])).status is Status.PASS
    result = run("deep.jitter", with_rows([noisy]))
    assert result.status is Status.WARN and "slowest run 40.00 ms" in result.findings[0].message


def test_without_deep_the_checks_are_not_applicable_and_a_failed_probe_is_unknown():
    deep_ids = [i for i in load_registry().ids() if i.startswith("deep.")]
    assert len(deep_ids) == 5
    for check_id in deep_ids:
        assert run(check_id, Snapshot(gpus=(H100,))).status is Status.NOT_APPLICABLE
    failed = Snapshot(gpus=(H100,), probes=(ProbeResult("deep", False, "timed out after 160s"),))
    assert run("deep.matmul", failed).status is Status.UNKNOWN


def test_cpu_only_deep_says_what_it_would_measure():
    snap = Snapshot(gpus=(), deep=Deep(mode="not-run", note="no CUDA device is visible to torch; it would measure: dense matmul TFLOPS"))
    result = run("deep.matmul", snap)
    assert result.status is Status.NOT_APPLICABLE and "it would measure" in result.findings[0].message


@pytest.mark.skipif(not has_torch(), reason="needs torch (CPU) in this interpreter")
def test_gpu_mode_on_a_cpu_only_machine_measures_nothing_and_says_so():
    deep = probe_deep(sys.executable, budget=20.0, mode="gpu")
    assert deep.mode == "not-run" and "would measure" in (deep.note or "")


@pytest.mark.gpu
def test_deep_probes_on_a_real_gpu():
    deep = probe_deep(sys.executable, budget=120.0)
    assert deep.mode == "gpu", deep.note
    bf16 = [m for m in deep.measures if m.kind == "matmul" and m.dtype == "bf16"]
    assert bf16 and all(m.value and m.value > 1.0 for m in bf16), bf16
    assert any(m.kind == "h2d" and m.value for m in deep.measures)


def test_the_gpu_smoke_script_is_valid_bash():
    import subprocess
    from pathlib import Path

    script = Path(__file__).parents[2] / "scripts/gpu-smoke.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "check --deep --json" in text and "snapshot" in text and "-m gpu" in text


@pytest.mark.skipif(not has_torch(), reason="needs torch (CPU) in this interpreter")
def test_check_deep_runs_the_real_worker_end_to_end_in_cpu_smoke_mode():
    from conftest import NVML_SCENARIOS, run_json, statuses

    code, report = run_json("check", "--deep", "--json", "-s", "deep", timeout=240,
                            env={"LLMDOCTOR_DEEP_MODE": "cpu-smoke",
                                 "LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / "health_h100x8_healthy.json")})
    assert code == 0
    assert set(statuses(report).values()) == {"not_applicable"}
    assert all("CPU smoke mode" in c["findings"][0]["message"] for c in report["checks"]
               if c["id"] in ("deep.matmul", "deep.memory-bandwidth", "deep.host-transfer", "deep.jitter"))
    deep = report["snapshot"]["deep"]
    assert deep["mode"] == "cpu-smoke"
    assert {m["kind"] for m in deep["measures"]} >= {"matmul", "membw", "h2d", "d2h", "jitter"}
    assert all(m["value"] and m["value"] > 0 for m in deep["measures"] if m["kind"] != "jitter"), deep["measures"]
    assert len(next(m for m in deep["measures"] if m["kind"] == "jitter")["samples"]) >= 2
    assert any(p["name"] == "deep" and p["ok"] for p in report["snapshot"]["probes"])


def test_check_deep_with_from_is_bad_usage(tmp_path):
    from conftest import run_cli

    snap = tmp_path / "snap.json"
    snap.write_text(Snapshot().to_json())
    proc = run_cli("check", "--from", str(snap), "--deep")
    assert proc.returncode == 2 and "--deep" in proc.stderr and "Traceback" not in proc.stderr
