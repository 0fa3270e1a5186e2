"""gpu.dtype, gpu.visible (llmdoctor/checks/gpu.py)."""

import dataclasses

import pytest

from llmdoctor.data import dtypes_for
from llmdoctor.results import Status
from llmdoctor.snapshot import Gpu, ProbeResult

from .helpers import messages, run, scenario, with_env, with_torch


# --------------------------------------------------------------------------- gpu.dtype

def test_v100_warns_about_bf16_with_a_float16_remedy():
    result = run("gpu.dtype", scenario("v100_fp16_only"))
    assert result.status is Status.WARN
    assert "bf16" in messages(result) and "float16" in messages(result)
    assert len(result.findings) == 2  # one per GPU


def test_h100_passes_and_lists_fp8():
    result = run("gpu.dtype", scenario("h100x8_healthy"))
    assert result.status is Status.PASS
    assert "fp8" in result.findings[0].evidence["tensor_core_dtypes"]


@pytest.mark.parametrize("scen, dtype, status", [
    ("v100_fp16_only", "bf16", Status.FAIL),
    ("v100_fp16_only", "fp16", Status.PASS),
    ("h100x8_healthy", "fp8", Status.PASS),
    ("h100x8_healthy", "fp4", Status.FAIL),
    ("rtx5090_torch26_cu126", "fp4", Status.PASS),
])
def test_requested_dtype(scen, dtype, status):
    assert run("gpu.dtype", scenario(scen), dtype=dtype).status is status


def test_turing_is_judged_by_compute_capability_not_torch_emulation():
    # torch.cuda.is_bf16_supported() says True on Turing (emulation); the check must not
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=(Gpu(index=0, name="Tesla T4"),))
    result = run("gpu.dtype", snap)
    assert result.status is Status.WARN
    assert result.findings[0].evidence["compute_capability"] == "7.5"


def test_unknown_compute_capability_is_unknown():
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=(Gpu(index=0, name="Mystery GPU"),))
    assert run("gpu.dtype", snap).status is Status.UNKNOWN
    assert run("gpu.dtype", scenario("no_gpu")).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("cc, has, lacks", [("7.0", "fp16", "bf16"), ("8.0", "bf16", "fp8"), ("8.9", "fp8", "fp4"), ("10.0", "fp4", None)])
def test_dtype_table_rows(cc, has, lacks):
    assert has in dtypes_for(cc)
    if lacks:
        assert lacks not in dtypes_for(cc)


# --------------------------------------------------------------------------- gpu.visible

def test_unset_passes():
    assert run("gpu.visible", scenario("h100x8_healthy")).status is Status.PASS


@pytest.mark.parametrize("value, status, fragment", [
    ("0,1,2,3", Status.PASS, "selects 4 of 8"),
    ("0,9", Status.FAIL, "names GPU 9"),
    ("9", Status.FAIL, "no GPU is visible"),
    ("1,1", Status.FAIL, "repeats GPU 1"),
    ("", Status.WARN, "hides every GPU"),
    ("-1", Status.WARN, "negative"),
    ("GPU-3c1e0000", Status.FAIL, "matches no GPU"),
    ("GPU-8f2c0001", Status.PASS, "selects 1 of 8"),
    ("0,gpu1", Status.FAIL, "neither an index nor a UUID"),
    ("MIG-abc", Status.FAIL, "MIG mode"),
])
def test_cuda_visible_devices(value, status, fragment):
    snap = with_torch(scenario("h100x8_healthy"), device_count=None)
    result = run("gpu.visible", with_env(snap, CUDA_VISIBLE_DEVICES=value))
    assert result.status is status, messages(result)
    assert fragment in messages(result)


def test_driver_library_mismatch_fails():
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=None, driver=None,
                               probes=(ProbeResult("nvml", False, "NVML: Driver/library version mismatch (...)"),))
    result = run("gpu.visible", snap)
    assert result.status is Status.FAIL
    assert "Reboot" in result.findings[0].remedy


def test_gpu_on_pci_bus_without_driver_fails():
    host = dataclasses.replace(scenario("no_gpu").host, nvidia_pci_devices=1)
    snap = dataclasses.replace(scenario("no_gpu"), gpus=None, host=host)
    assert run("gpu.visible", snap).status is Status.FAIL


def test_no_gpu_is_not_applicable():
    assert run("gpu.visible", scenario("no_gpu")).status is Status.NOT_APPLICABLE


def test_torch_seeing_a_different_count_warns():
    snap = with_env(with_torch(scenario("h100x8_healthy"), device_count=8), CUDA_VISIBLE_DEVICES="0,1")
    result = run("gpu.visible", snap)
    assert result.status is Status.WARN and "torch sees 8" in messages(result)


def test_unread_environment_never_passes():
    # a pasted nvidia-smi output lists the GPUs but not the environment: what CUDA_VISIBLE_DEVICES selects is unknown
    snap = dataclasses.replace(scenario("h100x8_healthy"), env=None)
    result = run("gpu.visible", snap)
    assert result.status is Status.UNKNOWN
    assert "CUDA_VISIBLE_DEVICES" in result.findings[0].message and "unknown" in result.findings[0].message


def test_empty_visible_devices_remedy_is_a_command():
    result = run("gpu.visible", with_env(scenario("h100x8_healthy"), CUDA_VISIBLE_DEVICES=""))
    assert result.findings[0].remedy.commands == ("unset CUDA_VISIBLE_DEVICES",)


@pytest.mark.parametrize("spelling", ["bfloat16", "BF16", "BFloat16"])
def test_dtype_accepts_torch_names_case_insensitively(spelling):
    result = run("gpu.dtype", scenario("v100_fp16_only"), dtype=spelling)
    assert result.status is Status.FAIL and "no bf16 Tensor Cores" in messages(result)


def test_pasted_nvidia_smi_does_not_pass_gpu_visible():
    # `llmdoctor check --from tests/data/dumps/nvidia_smi_q.txt --select gpu.visible`: the dump lists two GPUs
    # but not the environment, so what CUDA_VISIBLE_DEVICES selects was never read
    from helpers.dumps import dump, report_for

    report = report_for(dump("nvidia_smi_q.txt"))
    result = next(c for c in report.checks if c.id == "gpu.visible")
    assert result.status is Status.UNKNOWN
    assert "CUDA_VISIBLE_DEVICES" in result.findings[0].message
