import dataclasses

import pytest

from llmdoctor.results import Status
from llmdoctor.snapshot import ProbeResult

from .helpers import messages, run, scenario, with_env, with_torch


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


def test_no_gpu_skips():
    assert run("gpu.visible", scenario("no_gpu")).status is Status.UNKNOWN


def test_torch_seeing_a_different_count_warns():
    snap = with_env(with_torch(scenario("h100x8_healthy"), device_count=8), CUDA_VISIBLE_DEVICES="0,1")
    result = run("gpu.visible", snap)
    assert result.status is Status.WARN and "torch sees 8" in messages(result)
