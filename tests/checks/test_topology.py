"""gpu.topology (llmdoctor/checks/topology.py), through the real NVML probe on fake topologies and the CLI."""

from __future__ import annotations

import dataclasses
import types

import pytest

from llmdoctor.probes.nvml import probe_nvml
from llmdoctor.results import Status
from llmdoctor.snapshot import Driver, Gpu, Meta, Snapshot
from llmdoctor.testing.fake_nvml import FakeNvml

from conftest import NVML_SCENARIOS, load_scenario, run_json, statuses

from .helpers import run


def nvml_snapshot(name: str, env: dict | None = None) -> Snapshot:
    driver, gpus, links = probe_nvml(FakeNvml.from_file(NVML_SCENARIOS / f"{name}.json"))
    base = load_scenario("h100x8_healthy")
    return dataclasses.replace(base, driver=driver, gpus=gpus, gpu_links=links,
                               env=types.MappingProxyType(dict(env or {})))


def text(result):
    return " | ".join(f.message for f in result.findings)


def test_h100_nvlink_all_pairs():
    snap = nvml_snapshot("h100x8_driver535")
    assert len(snap.gpu_links) == 28 and all(link.level == "NVLINK" and link.nvlinks == 18 for link in snap.gpu_links)
    r = run("gpu.topology", snap)
    assert r.status is Status.PASS and "NVLink" in text(r)
    # P2P off on an NVLink box costs bandwidth; NVLS off on NVSwitch Hopper too
    assert run("nccl.perf-switches", dataclasses.replace(snap, env={"NCCL_P2P_DISABLE": "1"})).status is Status.WARN
    assert run("nccl.perf-switches", dataclasses.replace(snap, env={"NCCL_NVLS_ENABLE": "0"})).status is Status.WARN


def test_rtx4090_pcie_without_p2p_warns_with_settings():
    snap = nvml_snapshot("rtx4090x4_pcie_no_p2p")
    assert all(link.p2p_read is False and link.level == "NODE" for link in snap.gpu_links)
    r = run("gpu.topology", snap)
    assert r.status is Status.WARN
    assert "no GPU pair supports peer-to-peer" in text(r)
    assert "NCCL_SHM_DISABLE" in r.findings[0].remedy and "/dev/shm" in r.findings[0].remedy
    # here NCCL_P2P_DISABLE=1 costs nothing
    assert run("nccl.perf-switches", dataclasses.replace(snap, env={"NCCL_P2P_DISABLE": "1"})).status is Status.PASS
    assert run("nccl.perf-switches", dataclasses.replace(snap, env={"NCCL_NVLS_ENABLE": "0"})).status is Status.PASS


def test_two_socket_a100_reports_cross_socket_pairs():
    snap = nvml_snapshot("a100x8_pcie_2socket")
    levels = {link.level for link in snap.gpu_links}
    assert levels == {"SINGLE", "MULTIPLE", "SYSTEM"}
    r = run("gpu.topology", snap)
    assert r.status is Status.PASS
    assert "12 of 28 GPU pairs support peer-to-peer" in text(r) and "16 pair(s) cross CPU sockets without P2P" in text(r)


def test_driver_known_to_misreport_p2p_warns_when_pcie_p2p_is_used():
    snap = nvml_snapshot("a100x8_pcie_2socket")
    snap = dataclasses.replace(snap, driver=dataclasses.replace(snap.driver, version="555.42.02"))
    r = run("gpu.topology", snap)
    assert r.status is Status.WARN and "misreport" in text(r)


def test_case11_dump_facts_4x_a10g_without_topology_warns():
    """shared/cases/case_11.txt: 4x A10G, driver 555.42.02, no topology in the collect_env dump."""
    gpus = tuple(Gpu(index=i, name="NVIDIA A10G") for i in range(4))
    snap = Snapshot(meta=Meta(source="dump"), driver=Driver(version="555.42.02"), gpus=gpus, gpu_links=None)
    r = run("gpu.topology", snap)
    assert r.status is Status.WARN
    assert "PCIe-only" in text(r) and "misreport" in text(r)
    # an H100 box without topology in the input is not judged
    h = Snapshot(meta=Meta(source="dump"), gpus=tuple(Gpu(index=i, name="NVIDIA H100 80GB HBM3") for i in range(2)))
    assert run("gpu.topology", h).status is Status.UNKNOWN


def test_single_gpu_passes_no_gpu_is_not_applicable_unknown_gpus_unknown():
    snap = load_scenario("h100x8_healthy")
    one = dataclasses.replace(snap, gpus=snap.gpus[:1], gpu_links=())
    assert run("gpu.topology", one).status is Status.PASS
    assert run("gpu.topology", dataclasses.replace(snap, gpus=None)).status is Status.UNKNOWN
    assert run("gpu.topology", load_scenario("no_gpu")).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("scenario,expected", [("h100x8_driver535", "pass"), ("rtx4090x4_pcie_no_p2p", "warn")])
def test_topology_through_cli_with_fake_nvml(scenario, expected):
    code, report = run_json("check", "--select", "gpu.topology", "--json",
                            env={"LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / f"{scenario}.json")})
    assert statuses(report)["gpu.topology"] == expected
    assert code == 0
