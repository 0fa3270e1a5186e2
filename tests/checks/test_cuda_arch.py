import dataclasses

from llmdoctor.results import Status
from llmdoctor.snapshot import Gpu

from .helpers import messages, run, scenario, with_torch


def test_h100_is_covered_by_cu121_sm90():
    result = run("cuda.arch", scenario("h100x8_healthy"))
    assert result.status is Status.PASS
    assert all("sm_90" in f.message for f in result.findings)


def test_rtx5090_with_torch26_cu126_fails_naming_sm120_and_cu128():
    result = run("cuda.arch", scenario("rtx5090_torch26_cu126"))
    assert result.status is Status.FAIL
    text = messages(result)
    assert "sm_120" in text
    assert "torch ≥ 2.7 built for cu128" in text
    assert "no kernel image" in text


def test_ada_runs_sm86_kernels():
    snap = scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, gpus=(Gpu(index=0, name="NVIDIA GeForce RTX 4090", compute_capability="8.9"),))
    result = run("cuda.arch", snap)
    assert result.status is Status.PASS
    assert "sm_86" in result.findings[0].message


def test_ptx_only_coverage_warns():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=("sm_80", "sm_90", "compute_90"))
    result = run("cuda.arch", snap)
    assert result.status is Status.WARN
    assert "compute_90" in messages(result)


def test_arch_specific_targets_are_not_forward_compatible():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=("sm_90a", "sm_100a"))
    assert run("cuda.arch", snap).status is Status.FAIL


def test_gpu_too_old_for_every_wheel():
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=(Gpu(index=0, name="GeForce 210"),))
    snap = with_torch(snap, version="1.13.1+cu117", cuda="11.7", arch_list=None)
    result = run("cuda.arch", snap)
    assert result.status is Status.FAIL
    text = messages(result)
    assert "sm_12" in text and "No official torch build" in text
    assert result.findings[0].evidence["compute_capability_source"].startswith("from the GPU name")


def test_package_minimums_flash_attn_on_v100():
    snap = scenario("v100_fp16_only")
    import dataclasses as dc
    from llmdoctor.snapshot import Distribution
    pk = dc.replace(snap.packages, distributions=snap.packages.distributions + (Distribution("flash-attn", "2.6.3"),))
    result = run("cuda.arch", dc.replace(snap, packages=pk))
    assert result.status is Status.FAIL
    assert "flash-attn" in messages(result) and "8.0" in messages(result)


def test_uses_the_wheel_table_when_the_arch_list_was_not_probed():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None)
    result = run("cuda.arch", snap)
    assert result.status is Status.FAIL
    assert result.findings[0].evidence["arch_list_source"].startswith("official wheel table")


def test_no_gpu_and_cpu_torch_skip():
    assert run("cuda.arch", scenario("no_gpu")).status is Status.UNKNOWN
    assert run("cuda.arch", scenario("cpu_torch_on_gpu_host")).status is Status.UNKNOWN


def test_unknown_arch_list_and_version_skip():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None, version="9.9.0+cu999", cuda="99.9",
                      warnings=())
    assert run("cuda.arch", snap).status is Status.UNKNOWN
    # torch's own "sm_120 is not compatible" warning decides when the arch list is unknown (issue 3)
    warned = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None, version="9.9.0+cu999", cuda="99.9")
    assert run("cuda.arch", warned).status is Status.FAIL
