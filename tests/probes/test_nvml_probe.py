"""The real NVML probe code, run unchanged against the scenario-driven fake NVML."""

import time

import pytest

from llmdoctor.probes import collect
from llmdoctor.testing.fake_nvml import FakeNvml
from llmdoctor.probes.nvml import NvmlUnavailable, probe_nvml

from conftest import NVML_SCENARIOS


def fake(name):
    return FakeNvml.from_file(NVML_SCENARIOS / f"{name}.json")


def test_eight_h100_with_nvlink():
    driver, gpus, links = probe_nvml(fake("h100x8_driver535"))
    assert driver.version == "535.104.05" and driver.cuda_version == "12.2"
    assert len(gpus) == 8
    assert {g.compute_capability for g in gpus} == {"9.0"}
    assert gpus[0].memory_total == 85520809984 and gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert len(links) == 28 and all(l.level == "NVLINK" and l.p2p_read for l in links)
    assert links[0].nvlinks == 18


def test_processes_and_old_driver():
    driver, gpus, links = probe_nvml(fake("a100_driver470"))
    assert driver.cuda_version == "11.4"
    assert gpus[0].processes[0].pid == 4242 and gpus[0].processes[0].name == "python3"
    assert gpus[0].memory_used == 1073741824
    assert links == ()


def test_pcie_without_p2p():
    _, gpus, links = probe_nvml(fake("rtx4090x4_pcie_no_p2p"))
    assert len(links) == 6
    assert all(l.level == "NODE" and l.p2p_read is False and l.nvlinks == 0 for l in links)


@pytest.mark.parametrize("name, fragment, code", [
    ("driver_not_loaded", "not loaded", 9),
    ("driver_library_mismatch", "Driver/library version mismatch", 18),
])
def test_init_errors_become_reasons(name, fragment, code):
    with pytest.raises(NvmlUnavailable, match=fragment) as info:
        probe_nvml(fake(name))
    assert info.value.code == code


def test_a_hanging_nvml_call_is_time_boxed_and_other_probes_still_report(monkeypatch):
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "hang_on_count.json"))
    start = time.monotonic()
    snap = collect(timeout=2.0)
    elapsed = time.monotonic() - start
    assert elapsed < 8, elapsed
    nvml = snap.probe("nvml")
    assert not nvml.ok and "timed out" in nvml.reason
    assert snap.gpus is None and snap.driver is None
    assert snap.host is not None and snap.packages is not None
    assert "timed out" in snap.unknown_reason("gpus")


def test_mismatch_reaches_the_snapshot_and_gpu_visible(monkeypatch):
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "driver_library_mismatch.json"))
    snap = collect(timeout=10)
    assert "mismatch" in snap.probe("nvml").reason
    from llmdoctor.engine import Context, load_registry, run_check
    result = run_check(load_registry().get("gpu.visible"), snap, Context())
    assert result.status.value == "fail"


def test_no_nvml_library_and_no_nvidia_pci_device_means_no_gpu(monkeypatch):
    monkeypatch.delenv("LLMDOCTOR_FAKE_NVML", raising=False)
    snap = collect(timeout=10)
    if snap.host.nvidia_pci_devices:  # pragma: no cover - only on a GPU machine
        pytest.skip("this machine has an NVIDIA GPU")
    if snap.probe("nvml").ok:  # pragma: no cover
        pytest.skip("NVML is installed here")
    assert snap.gpus == ()


def test_without_the_nvml_library_pynvml_is_not_imported_and_the_reason_is_the_same(monkeypatch):
    """A machine with no driver: the probe says why as before, without paying pynvml's import."""
    import subprocess
    import sys

    code = ("import sys\nfrom llmdoctor.probes import nvml\n"
            "try:\n    nvml.probe_nvml(nvml.load_backend())\nexcept nvml.NvmlUnavailable as exc:\n"
            "    print(exc.code, exc)\nprint('pynvml' in sys.modules)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "LLMDOCTOR_FAKE_NVML"}
    env["LD_LIBRARY_PATH"] = ""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60).stdout
    from llmdoctor.probes import nvml

    if nvml._library_loads():
        import pytest

        pytest.skip("this machine has libnvidia-ml.so.1")
    lines = out.splitlines()
    assert lines[0] == "12 the NVML library (libnvidia-ml.so) was not found: no NVIDIA driver is installed here"
    assert lines[1] == "False"


class _Counting(FakeNvml):
    """The fake, counting the NVML calls the probe makes."""

    def __init__(self, scenario):
        super().__init__(scenario)
        self.calls = {}

    def __getattribute__(self, name):
        value = super().__getattribute__(name)
        if name.startswith("nvml") and callable(value):
            calls = super().__getattribute__("calls")

            def counted(*args, **kwargs):
                calls[name] = calls.get(name, 0) + 1
                return value(*args, **kwargs)
            return counted
        return value


def _scenario(health=None):
    import json

    doc = json.loads((NVML_SCENARIOS / "h100x8_driver535.json").read_text())
    if health is not None:
        for gpu in doc["gpus"]:
            gpu["health"] = dict(health)
    return doc


def test_nvlink_counters_a_gpu_does_not_have_are_asked_for_once_not_per_link_and_counter():
    nvml = _Counting(_scenario())
    _, gpus, links = probe_nvml(nvml)
    assert all(g.health.nvlink_errors is None and g.health.nvlink_active == 18 for g in gpus)
    assert nvml.calls["nvmlDeviceGetNvLinkErrorCounter"] == len(gpus)  # was 18 links x 4 counters each
    # the links' NVLink count comes from the health read: each GPU's link states are read once
    assert nvml.calls["nvmlDeviceGetNvLinkState"] == len(gpus) * 18
    assert links[0].nvlinks == 18


def test_nvlink_counters_a_gpu_has_are_summed_over_its_links():
    nvml = _Counting(_scenario({"nvlink_errors": {"replay": 3, "crc_flit": 7}}))
    _, gpus, _ = probe_nvml(nvml)
    assert gpus[0].health.nvlink_errors == {"replay": 3, "recovery": 0, "crc_flit": 7, "crc_data": 0}
    assert nvml.calls["nvmlDeviceGetNvLinkErrorCounter"] == len(gpus) * 18 * 4
