"""health.* on fake-NVML scenarios: every health state gives its verdict, healthy machines no alarm."""

from __future__ import annotations

import dataclasses
import json

import pytest

from llmdoctor import data
from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.probes.health_host import merge_xid_logs, parse_xid_lines, probe_fabric_manager, probe_kernel_xids
from llmdoctor.probes.nvml import probe_nvml, watch_xids
from llmdoctor.results import Status
from llmdoctor.snapshot import DcgmDiag, DcgmTest, Distribution, Packages, Snapshot, Torch, freeze_mapping
from llmdoctor.testing.fake_nvml import FakeNvml

from conftest import NVML_SCENARIOS

HEALTH = [i for i in load_registry().ids() if i.startswith("health.")]


def snapshot_of(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None,
                watch: float = 0.0, **parts) -> Snapshot:
    path = NVML_SCENARIOS / f"{name}.json"
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(path))
    driver, gpus, links = probe_nvml(FakeNvml.from_file(path))
    xids = merge_xid_logs(probe_kernel_xids(), watch_xids(FakeNvml.from_file(path), watch) if watch else None)
    base = dict(driver=driver, gpus=gpus, gpu_links=links, xids=xids, fabric=probe_fabric_manager(),
                env=freeze_mapping(env or {}), packages=Packages(distributions=(Distribution("nvidia-ml-py", "12.560.30"),)),
                torch=Torch(installed=True, version="2.5.1", cuda="12.4", cuda_available=True))
    base.update(parts)
    return Snapshot(**base)


def run(check_id: str, snap: Snapshot, **options):
    return run_check(load_registry().get(check_id), snap, Context(options))


def text(result) -> str:
    return "\n".join(f"{f.message} {f.remedy or ''}" for f in result.findings)


# --------------------------------------------------------------------------- no false alarm


@pytest.mark.parametrize("name", ["health_h100x8_healthy", "health_a100x8_hgx_healthy", "health_mig", "h100x8_driver535", "a100x8_pcie_2socket",
                                  "health_container_no_permission"])
def test_healthy_scenarios_raise_no_warning_or_failure(name, monkeypatch):
    snap = snapshot_of(name, monkeypatch)
    for check_id in HEALTH:
        result = run(check_id, snap)
        assert result.status not in (Status.WARN, Status.FAIL, Status.ERROR), (check_id, text(result))


def test_healthy_hgx_passes_on_facts_it_read(monkeypatch):
    snap = snapshot_of("health_h100x8_healthy", monkeypatch)
    for check_id in ("health.ecc", "health.remapped-rows", "health.clocks", "health.temperature", "health.power-limit",
                     "health.persistence", "health.pcie-link", "health.nvlink", "health.fabric", "health.xid"):
        assert run(check_id, snap).status is Status.PASS, check_id
    assert "18 NVLink links active of 18 expected" in text(run("health.nvlink", snap))
    xid = run("health.xid", snap)
    assert "application XIDs ignored: 13 (1x)" in text(xid)


def test_a_container_without_permission_says_what_it_could_not_see(monkeypatch):
    snap = snapshot_of("health_container_no_permission", monkeypatch)
    ecc = run("health.ecc", snap)
    assert ecc.status is Status.UNKNOWN and "no permission" in text(ecc)
    assert run("health.xid", snap).status is Status.UNKNOWN
    assert "not in the fake scenario" in text(run("health.xid", snap))


# --------------------------------------------------------------------------- each health state


@pytest.mark.parametrize("name, check_id, status, fragment", [
    ("health_ecc_uncorrectable", "health.ecc", Status.FAIL, "2 uncorrectable ECC error(s) since the driver loaded"),
    ("health_ecc_uncorrectable", "health.ecc", Status.FAIL, "retired memory pages are pending"),
    ("health_ecc_off", "health.ecc", Status.WARN, "ECC is off"),
    ("health_remap_pending", "health.remapped-rows", Status.FAIL, "remapping is pending"),
    ("health_remap_failed", "health.remapped-rows", Status.FAIL, "(RMA)"),
    ("health_remap_failed", "health.remapped-rows", Status.FAIL, "drain and reset (NVML recovery action 4)"),
    ("health_throttle_thermal", "health.clocks", Status.WARN, "thermal slowdown"),
    ("health_throttle_power_brake", "health.clocks", Status.WARN, "hardware power brake"),
    ("health_throttle_hw_slowdown", "health.clocks", Status.WARN, "hardware slowdown"),
    ("health_throttle_sw_power_cap", "health.clocks", Status.WARN, "software power cap"),
    ("health_hot", "health.temperature", Status.WARN, "85 C, within 5 C of its slowdown threshold (87 C)"),
    ("health_power_capped", "health.power-limit", Status.WARN, "400 W is below its default 700 W"),
    ("health_persistence_off", "health.persistence", Status.WARN, "persistence mode is off on a datacenter GPU"),
    ("health_pcie_downtrained", "health.pcie-link", Status.WARN, "x8 of x16"),
    ("health_pcie_downtrained", "health.pcie-link", Status.WARN, "Gen4 of Gen5 under load"),
    ("health_pcie_idle_gen", "health.pcie-link", Status.UNKNOWN, "judge it under load"),
    ("health_nvlink_down", "health.nvlink", Status.FAIL, "2 of 18 NVLink links are down"),
    ("health_nvlink_down", "health.nvlink", Status.FAIL, "recovery 2"),
    ("health_fabric_not_started", "health.fabric", Status.FAIL, "fabric not started"),
    ("health_fabric_not_started", "health.fabric", Status.FAIL, "nvidia-fabricmanager is not running"),
    ("health_fabric_not_started", "health.fabric", Status.FAIL, "sudo apt-get install nvidia-fabricmanager-550=550.90.07-1"),
    ("health_fabric_in_progress", "health.fabric", Status.FAIL, "fabric in progress"),
    ("health_fabric_failed", "health.fabric", Status.FAIL, "registration failed (NVML status 999)"),
    ("health_fabric_version_mismatch", "health.fabric", Status.FAIL, "550.54.15 differs from driver 550.90.07"),
    ("health_mig_no_instance", "health.mig", Status.FAIL, "no GPU instance is created"),
    ("health_mixed_models", "health.device-order", Status.WARN, "CUDA_DEVICE_ORDER=PCI_BUS_ID"),
    ("health_xid_events", "health.xid", Status.FAIL, "XID 79, GPU has fallen off the bus, 1x on GPU 0"),
    ("health_xid_events", "health.xid", Status.FAIL, "XID 48, Double-bit ECC error"),
])
def test_each_health_state_gives_its_verdict(name, check_id, status, fragment, monkeypatch):
    result = run(check_id, snapshot_of(name, monkeypatch))
    assert result.status is status, text(result)
    assert fragment in text(result)


def test_other_gpus_stay_healthy_when_one_is_bad(monkeypatch):
    result = run("health.ecc", snapshot_of("health_ecc_uncorrectable", monkeypatch))
    bad = [f for f in result.findings if f.status is Status.FAIL]
    assert {f.subject for f in bad} == {"GPU 0 (NVIDIA H100 80GB HBM3)"}
    assert sum(f.status is Status.PASS for f in result.findings) == 7


def test_application_xids_are_ignored_like_the_device_plugin(monkeypatch):
    result = run("health.xid", snapshot_of("health_xid_events", monkeypatch))
    assert "XID 31" not in text(result)
    apps = {row["xid"] for row in data.load("xid_catalog")["xids"] if row["application"]}
    assert apps == {13, 31, 43, 45, 68}  # NVIDIA/k8s-device-plugin applicationErrorXids


def test_nvml_xid_events_are_read_while_watching(monkeypatch):
    snap = snapshot_of("health_xid_events", monkeypatch, watch=0.3)
    assert any(e.source == "nvml-events" and e.xid == 94 and e.gpu == 2 for e in snap.xids.events)
    result = run("health.xid", snap)
    assert "XID 94" in text(result) and "GPU 2" in text(result)
    assert any("NVML XID events" in s for s in snap.xids.sources)


def test_cuda_802_is_the_fabric_symptom(monkeypatch):
    snap = snapshot_of("health_h100x8_healthy", monkeypatch,
                       torch=Torch(installed=True, version="2.5.1", cuda="12.4", cuda_available=False,
                                   cuda_error="RuntimeError: Unexpected error from cudaGetDeviceCount(). ... "
                                              "Error 802: system not yet initialized"))
    result = run("health.fabric", snap)
    assert result.status is Status.FAIL and "error 802" in text(result)


def test_fabric_is_not_applicable_without_nvswitch(monkeypatch):
    assert run("health.fabric", snapshot_of("health_mixed_models", monkeypatch)).status is Status.NOT_APPLICABLE


def test_mig_lists_slices_and_warns_on_several_mig_uuids(monkeypatch):
    snap = snapshot_of("health_mig", monkeypatch)
    assert [m.profile for m in snap.gpus[0].mig_devices] == ["3g.40gb", "3g.40gb"]
    assert snap.gpus[1].mig_devices == ()
    ok = run("health.mig", snap)
    assert ok.status is Status.PASS and "2 slice(s): 3g.40gb (40.0 GiB)" in text(ok)
    two = "MIG-1a2b3c4d-0000-0000-0000-000000000001,MIG-1a2b3c4d-0000-0000-0000-000000000002"
    result = run("health.mig", snapshot_of("health_mig", monkeypatch, env={"CUDA_VISIBLE_DEVICES": two}))
    assert result.status is Status.WARN and "enumerates only one MIG device" in text(result)
    by_index = run("health.mig", snapshot_of("health_mig", monkeypatch, env={"CUDA_VISIBLE_DEVICES": "0"}))
    assert by_index.status is Status.WARN and "MIG-1a2b3c4d-0000-0000-0000-000000000001" in text(by_index)


def test_mixed_models_pass_with_pci_bus_order(monkeypatch):
    snap = snapshot_of("health_mixed_models", monkeypatch, env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert run("health.device-order", snap).status is Status.PASS
    assert run("health.ecc", snap).status is Status.NOT_APPLICABLE  # GeForce: NVML says not supported
    assert run("health.nvlink", snap).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("dist", ["pynvml", "nvidia-ml-py3"])
def test_deprecated_nvml_bindings_are_flagged(dist, monkeypatch):
    packages = Packages(distributions=(Distribution(dist, "11.5.0"),))
    result = run("health.nvml-bindings", snapshot_of("health_h100x8_healthy", monkeypatch, packages=packages))
    assert result.status is Status.WARN and f"pip uninstall -y {dist}" in text(result)


def test_dcgm_results_are_folded_in(monkeypatch):
    snap = snapshot_of("health_h100x8_healthy", monkeypatch)
    assert run("health.dcgm", snap).status is Status.NOT_APPLICABLE
    diag = DcgmDiag(ran=True, tests=(DcgmTest("Deployment", "pass"), DcgmTest("PCIe", "fail", "GPU 0 bandwidth low", 0)))
    result = run("health.dcgm", dataclasses.replace(snap, dcgm=diag))
    assert result.status is Status.FAIL and "DCGM PCIe on GPU 0: GPU 0 bandwidth low" in text(result)
    missing = run("health.dcgm", dataclasses.replace(snap, dcgm=DcgmDiag(ran=False, error="dcgmi not found")))
    assert missing.status is Status.UNKNOWN


def test_xid_catalog_rows_have_sources_and_known_buckets():
    catalog = data.load("xid_catalog")
    for row in catalog["xids"]:
        assert row["source"].startswith("https://") and row["bucket"] in catalog["ladder"], row
    assert {79, 48, 94, 95, 74, 64, 63, 119, 154} <= {r["xid"] for r in catalog["xids"]}


def test_gpu_specs_rows_pin_the_figures_checks_use():
    from llmdoctor.checks.health import gpu_spec

    h100 = gpu_spec("NVIDIA H100 80GB HBM3")
    assert h100["tflops"]["bf16"] == 989.4 and h100["memory_bandwidth_gbs"] == 3350 and h100["nvlinks"] == 18
    assert gpu_spec("NVIDIA H100 PCIe")["tflops"]["bf16"] == 756
    assert gpu_spec("NVIDIA A100-SXM4-80GB")["memory_bandwidth_gbs"] == 2039
    assert gpu_spec("NVIDIA A100-SXM4-40GB")["memory_bandwidth_gbs"] == 1555
    assert gpu_spec("NVIDIA A100 80GB PCIe")["memory_bandwidth_gbs"] == 1935
    assert gpu_spec("NVIDIA GeForce RTX 4090") is None
    for row in data.load("gpu_specs")["gpus"]:
        assert "datasheet" in row["source"] and "nvidia.com" in row["source"]


def test_kernel_log_lines_are_parsed_verbatim():
    # verbatim XID 79 line from https://modal.com/docs/guide/gpu-health
    line = "[gpu-health] [CRITICAL] GPU-1234: XID: NVRM: Xid (PCI:0000:c6:00): 79, pid=1101234, name=nvc:[driver], GPU has fallen off the bus."
    (event,) = parse_xid_lines([line, "unrelated line"])
    assert event.xid == 79 and event.pci_bus_id == "0000:c6:00" and event.text == line


def test_grafana_dashboard_uses_only_metrics_the_renderer_writes(monkeypatch):
    import re
    from pathlib import Path

    from llmdoctor.engine import run_checks, select
    from llmdoctor.probes.deep import deep_from_worker
    from llmdoctor.report.prometheus import render_prometheus

    dash = json.loads((Path(__file__).parents[2] / "docs/grafana/llmdoctor-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]] + [v.get("query", "") for v in dash["templating"]["list"]]
    used = {m for e in exprs for m in re.findall(r"\bllmdoctor_[a-z_]+", e)}
    deep = deep_from_worker({"mode": "gpu", "rows": [{"kind": "matmul", "device": 0, "dtype": "bf16", "n": 8192, "iters": 1, "seconds": 0.0015}]})
    snap = dataclasses.replace(snapshot_of("health_xid_events", monkeypatch), deep=deep)
    from llmdoctor.snapshot import Meta

    snap = dataclasses.replace(snap, meta=Meta(created_at="2026-12-01T10:00:00+00:00"))
    written = set(re.findall(r"^(llmdoctor_[a-z_]+)[{ ]", render_prometheus(run_checks(snap, select(load_registry(), ["health", "deep"]))), re.M))
    assert used and used <= written, used - written
    assert {"llmdoctor_gpu_ecc_uncorrected_volatile", "llmdoctor_gpu_clock_event_reason",
            "llmdoctor_gpu_temperature_celsius", "llmdoctor_check_status"} <= used
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])


def test_xid_lines_in_pasted_texts_are_decoded():
    line = "[Mon Dec  1 11:43:10 2026] NVRM: Xid (PCI:0000:18:00): 79, pid=1101234, name=nvc:[driver], GPU has fallen off the bus."
    result = run("health.xid", Snapshot(errors=(line,)))
    assert result.status is Status.FAIL and "XID 79" in text(result) and "Reboot the node (a GPU reset cannot recover it)" in text(result)
    assert run("health.xid", Snapshot()).status is Status.UNKNOWN


def test_a100_hgx_fabric_is_judged_on_the_service(monkeypatch):
    result = run("health.fabric", snapshot_of("health_a100x8_hgx_healthy", monkeypatch))
    assert result.status is Status.PASS, text(result)
    assert "6 NVSwitch(es); NVML gives no fabric state" in text(result)
    assert "12 NVLink links active of 12 expected" in text(run("health.nvlink", snapshot_of("health_a100x8_hgx_healthy", monkeypatch)))


def test_health_and_deep_text_cites_no_internal_note(monkeypatch):
    import re

    internal = re.compile(r"reference_facts|failure[_ ]catalog|shared/|Known error [A-Z]\d", re.IGNORECASE)
    specs = [s for s in load_registry() if s.area in ("health", "deep")]
    for spec in specs:
        assert not internal.search(spec.explanation), spec.id
    for path in sorted(NVML_SCENARIOS.glob("health_*.json")):
        snap = snapshot_of(path.stem, monkeypatch)
        for spec in specs:
            for finding in run_check(spec, snap, Context()).findings:
                assert not internal.search(json.dumps(finding.to_dict())), (path.stem, spec.id)
