import dataclasses

from llmdoctor.results import Status
from llmdoctor.snapshot import Distribution, Toolkit

from .helpers import messages, run, scenario


def _with(snap, nvcc_version, *extra_packages):
    tk = Toolkit(nvcc_path="/usr/local/cuda/bin/nvcc" if nvcc_version else None, nvcc_version=nvcc_version, nvcc_source="PATH")
    pk = dataclasses.replace(snap.packages, distributions=snap.packages.distributions + tuple(Distribution(n, "1.0") for n in extra_packages))
    return dataclasses.replace(snap, toolkit=tk, packages=pk)


def test_matching_nvcc_passes():
    assert run("cuda.toolkit", scenario("h100x8_healthy")).status is Status.PASS


def test_major_mismatch_fails_when_something_compiles_cuda():
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), "11.5", "deepspeed"))
    assert result.status is Status.FAIL
    assert "deepspeed" in messages(result) and "11.5" in messages(result)


def test_major_mismatch_only_warns_without_jit_packages():
    assert run("cuda.toolkit", _with(scenario("h100x8_healthy"), "11.5")).status is Status.WARN


def test_minor_mismatch_warns():
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), "12.4", "deepspeed"))
    assert result.status is Status.WARN
    assert "minor" in messages(result)


def test_no_nvcc_is_fine_unless_something_compiles():
    assert run("cuda.toolkit", _with(scenario("h100x8_healthy"), None)).status is Status.PASS
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), None, "deepspeed"))
    assert result.status is Status.WARN
    assert "nvidia-cuda-nvcc-cu12" in messages(result)


def test_nvcc_newer_than_the_driver_warns():
    # driver 535 = CUDA 12.2; nvcc 12.4 produces code the driver may not load
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), "12.4"))
    assert any("newer than the driver" in f.message for f in result.findings)


def test_skips_without_cuda_torch_or_toolkit_facts():
    assert run("cuda.toolkit", scenario("no_gpu")).status is Status.UNKNOWN
    assert run("cuda.toolkit", dataclasses.replace(scenario("h100x8_healthy"), toolkit=None)).status is Status.UNKNOWN
