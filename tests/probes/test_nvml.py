"""The NVML health probe (issue 16) against the fake: what it reads, and what it records as unread."""

from __future__ import annotations

import json

from llmdoctor.probes import collect
from llmdoctor.probes.health_host import count_nvswitches, parse_dcgm, probe_fabric_manager, probe_kernel_xids
from llmdoctor.probes.nvml import probe_nvml, watch_xids
from llmdoctor.snapshot import Snapshot
from llmdoctor.testing.fake_nvml import FakeNvml

from conftest import NVML_SCENARIOS


def fake(name: str) -> FakeNvml:
    return FakeNvml.from_file(NVML_SCENARIOS / f"{name}.json")


def test_health_facts_are_read():
    _, gpus, _ = probe_nvml(fake("health_h100x8_healthy"))
    h = gpus[0].health
    assert (h.ecc_enabled, h.ecc_volatile_uncorrected, h.ecc_aggregate_uncorrected) == (True, 0, 0)
    assert (h.remapped_rows_pending, h.remapped_rows_failed, h.recovery_action) == (False, False, 0)
    assert (h.pcie_gen, h.pcie_gen_max, h.pcie_width, h.pcie_width_max, h.pcie_under_load) == (5, 5, 16, 16, False)
    assert (h.nvlink_active, h.nvlink_inactive) == (18, 0)
    assert h.fabric_state == "completed" and h.fabric_status == 0
    assert (h.temperature, h.temperature_slowdown, h.power_limit, h.clock_event_reasons) == (34, 87, 700000, 1)
    assert h.brand == "NVIDIA" and h.unread is None


def test_refused_queries_are_recorded_with_their_reason():
    _, gpus, _ = probe_nvml(fake("health_container_no_permission"))
    h = gpus[0].health
    assert h.ecc_enabled is None and h.remapped_rows_pending is None
    assert h.unread["ecc_mode"].startswith("no permission")
    assert h.unread["remapped_rows"].startswith("no permission")


def test_old_scenarios_without_health_read_as_not_supported():
    _, gpus, _ = probe_nvml(fake("h100x8_driver535"))
    h = gpus[0].health
    assert h.ecc_enabled is None and h.unread["ecc_mode"] == "not supported on this GPU or driver"
    assert h.nvlink_active == 18  # the older "nvlinks" count still works


def test_mig_slices_come_from_nvml():
    _, gpus, _ = probe_nvml(fake("health_mig"))
    assert [(m.profile, m.uuid, m.memory_total) for m in gpus[0].mig_devices] == [
        ("3g.40gb", "MIG-1a2b3c4d-0000-0000-0000-000000000001", 42949672960),
        ("3g.40gb", "MIG-1a2b3c4d-0000-0000-0000-000000000002", 42949672960)]
    assert gpus[1].mig_devices == ()


def test_watch_xids_collects_events_until_the_deadline():
    log = watch_xids(fake("health_xid_events"), 0.2)
    assert [(e.xid, e.gpu, e.source) for e in log.events] == [(94, 2, "nvml-events")]
    refused = FakeNvml({**json.loads((NVML_SCENARIOS / "health_xid_events.json").read_text()), "events_error": 3})
    assert watch_xids(refused, 0.1).unread == ("NVML events: not supported on this GPU or driver",)


def test_host_probes_follow_the_fake_scenario(monkeypatch):
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "health_fabric_version_mismatch.json"))
    fm = probe_fabric_manager()
    assert (fm.nvswitches, fm.service_active, fm.version) == (4, True, "550.54.15")
    log = probe_kernel_xids()
    assert log.sources == ("fake kernel log",) and log.events == ()


def test_nvswitch_count_from_proc(tmp_path):
    devices = tmp_path / "proc/driver/nvidia-nvswitch/devices"
    devices.mkdir(parents=True)
    for bus in ("0000:05:00.0", "0000:06:00.0"):
        (devices / bus).mkdir()
    assert count_nvswitches(str(tmp_path)) == 2
    assert count_nvswitches(str(tmp_path / "none")) == 0


def test_dcgm_json_layouts_are_folded():
    doc = {"DCGM GPU Diagnostic": {"test_categories": [{"category": "Deployment", "tests": [
        {"name": "Denylist", "results": [{"status": "Pass"}]},
        {"name": "Persistence Mode", "results": [{"status": "Warn", "info": "Persistence mode for GPU 0 is disabled.", "gpu_id": "0"}]}]}]}}
    tests = parse_dcgm(doc)
    assert [(t.name, t.status, t.gpu) for t in tests] == [("Denylist", "pass", None), ("Persistence Mode", "warn", 0)]


def test_collect_records_the_new_probes_and_round_trips(monkeypatch):
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "health_xid_events.json"))
    snap = collect(timeout=5.0, watch_xid=0.2)
    assert {p.name for p in snap.probes} >= {"xid", "fabric"}
    assert {e.xid for e in snap.xids.events} == {48, 79, 31, 94}
    assert snap.fabric.nvswitches == 4 and snap.gpus[0].health.ecc_enabled is True
    assert Snapshot.from_json(snap.to_json()) == snap


import pytest


@pytest.mark.gpu
def test_real_nvml_gives_health_facts():
    from llmdoctor.probes.nvml import load_backend

    _, gpus, _ = probe_nvml(load_backend())
    assert gpus, "no GPU seen by NVML"
    h = gpus[0].health
    assert h is not None and h.temperature is not None and h.pcie_width is not None
    assert h.clock_event_reasons is not None


def test_collect_takes_probe_inputs_from_the_check_inputs(monkeypatch):
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "health_xid_events.json"))
    monkeypatch.setenv("PATH", "/nonexistent")  # no dcgmi here
    snap = collect(timeout=5.0, inputs={"watch_xid": 0.2, "dcgm": True, "dtype": "bf16"})
    assert any(e.source == "nvml-events" for e in snap.xids.events)
    assert snap.dcgm is not None and snap.dcgm.ran is False and "dcgmi not found" in snap.dcgm.error
    assert snap.deep is None
