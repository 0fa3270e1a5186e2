"""Each supported format, written from the tools' documented output, is read into the right facts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmdoctor.engine import UsageError
from llmdoctor.parsers import parse_dump, parse_facts

from dumps_helpers import DUMPS, dump, report_for, statuses


def snap(name):
    return parse_dump(dump(name), name)


def test_collect_env_traps():
    s = snap("collect_env_a100_healthy.txt")
    assert "collect_env" in s.meta.understood and s.meta.source == "dump"
    assert s.torch.version == "2.4.0+cu121" and s.torch.cuda == "12.1"
    assert s.toolkit.nvcc_version == "12.1"  # "CUDA runtime version" is nvcc on PATH
    assert s.torch.cudnn is None  # "cuDNN version" lists files on disk, not what torch loads
    assert s.driver.version == "535.104.05" and s.driver.cuda_version is None
    assert [g.name for g in s.gpus] == ["NVIDIA A100-SXM4-80GB"] * 2
    assert s.host.cpu_count == 64 and s.host.kernel == "5.15.0-105-generic"
    assert s.packages.version("triton") == "3.0.0"
    assert "fail" not in statuses(report_for(dump("collect_env_a100_healthy.txt"))).values()


def test_nvcc_mismatch_from_collect_env_is_not_torch_runtime():
    # torch cu121 with nvcc 11.5 on PATH: cuda.driver must judge 12.1, not 11.5
    s = snap("vllm_collect_env_sectioned.txt")
    assert s.torch.cuda == "12.6" and s.toolkit.nvcc_version == "12.4"


def test_windows_crlf_cpu_torch():
    text = (DUMPS / "collect_env_windows_cpu_torch_crlf.txt").read_bytes().decode()
    assert "\r\n" in text
    s = parse_dump(text, "w")
    assert s.host.os == "Windows" and s.driver.platform == "windows"
    assert s.torch.version == "2.3.1+cpu" and s.torch.cuda is None
    assert statuses(report_for(text))["torch.build"] == "fail"


def test_vllm_sectioned_env_topology_and_redaction():
    s = snap("vllm_collect_env_sectioned.txt")
    assert {"collect_env", "vllm_collect_env", "nvidia_smi_topo"} <= set(s.meta.understood)
    assert s.packages.version("vllm") == "0.9.0.1"
    assert s.env["NCCL_P2P_DISABLE"] == "1" and s.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert s.env["HF_TOKEN"] == "<redacted>"
    assert "hf_abcdefghij" not in s.to_json()
    assert [(l.a, l.b, l.level) for l in s.gpu_links] == [(0, 1, "HOSTBRIDGE")]


def test_nvidia_smi_table_cuda_version_is_the_drivers():
    s = snap("nvidia_smi_table.txt")
    assert s.driver.version == "535.104.05" and s.driver.cuda_version == "12.2"
    assert s.toolkit is None and s.torch is None  # nvidia-smi says nothing about nvcc or torch
    g0, g1 = s.gpus
    assert g0.name == "NVIDIA H100 80GB HBM3" and g0.memory_total == 81559 * 2**20
    assert g0.persistence_mode is True and g0.mig_mode is False and g0.pci_bus_id == "00000000:18:00.0"
    assert [(p.pid, p.name) for p in g0.processes] == [(12345, "python3")]
    assert g1.memory_used == 4 * 2**20


def test_nvidia_smi_old_layout_and_windows():
    s = snap("nvidia_smi_old_v100.txt")
    assert s.driver.cuda_version == "11.4" and s.gpus[0].name.startswith("Tesla V100")
    w = snap("nvidia_smi_windows.txt")
    assert w.driver.platform == "windows" and w.gpus[0].name == "NVIDIA GeForce RTX 4090"


def test_nvidia_smi_q():
    s = snap("nvidia_smi_q.txt")
    assert s.driver.cuda_version == "12.2"
    assert [g.uuid for g in s.gpus] == ["GPU-6b1f2c3d-4e5f-6789-abcd-ef0123456789",
                                        "GPU-0a1b2c3d-1111-2222-3333-444455556666"]
    assert [g.mig_mode for g in s.gpus] == [False, True]
    assert s.gpus[0].memory_free == 41108 * 2**20


def test_topology():
    s = snap("nvidia_smi_topo_pcie.txt")
    assert len(s.gpus) == 4 and all(g.name is None for g in s.gpus)
    levels = {(l.a, l.b): l.level for l in s.gpu_links}
    assert levels[(0, 1)] == "SINGLE" and levels[(2, 3)] == "MULTIPLE" and levels[(0, 2)] == "SYSTEM"


def test_nvcc():
    s = snap("nvcc_version.txt")
    assert s.toolkit.nvcc_version == "11.8" and s.torch is None and s.gpus is None


@pytest.mark.parametrize("name, torch, cuda", [
    ("pip_list.txt", "2.3.0", "12.1"),           # no local tag: CUDA from nvidia-cuda-runtime-cu12
    ("pip_freeze.txt", "2.3.0+cu118", "11.8"),
    ("pip_show_torch.txt", "2.2.1+cu121", "12.1"),
    ("conda_list_cuda.txt", "2.1.0", "12.1"),    # conda build string py3.10_cuda12.1_...
    ("conda_list.txt", "2.1.0", None),           # cpuonly
])
def test_package_lists(name, torch, cuda):
    s = snap(name)
    assert s.torch.version == torch and s.torch.cuda == cuda


def test_pip_list_without_cuda_evidence_leaves_torch_unknown():
    text = "Package    Version\n---------- -------\ntorch      2.3.0\nnumpy      1.26.4\n"
    s = parse_dump(text, "p")
    assert s.torch is None  # CPU or CUDA build? unknown, so no torch facts (checks skip)
    assert s.packages.version("torch") == "2.3.0"


def test_pip_freeze_and_show_details():
    s = snap("pip_freeze.txt")
    assert s.packages.version("vllm") == "0.5.0" and s.packages.version("numpy") == "2.0.0"
    assert s.packages.get("peft") is None  # "peft @ file://" has no version
    show = snap("pip_show_torch.txt")
    assert show.packages.get("torch").location == "/opt/conda/lib/python3.10/site-packages"
    assert "triton" in show.packages.get("torch").requires


def test_bitsandbytes_report():
    s = snap("bitsandbytes_043.txt")
    assert s.packages.version("bitsandbytes") == "0.43.1"
    assert s.torch.cuda == "12.1" and s.torch.cuda_available is True
    assert s.gpus[0].compute_capability == "8.6"


def test_ds_report_shm_and_nvcc():
    s = snap("ds_report_small_shm.txt")
    assert s.host.shm_total == 64 * 2**20
    assert s.toolkit.nvcc_version == "11.8" and s.torch.cuda == "12.1"
    assert s.packages.version("deepspeed") == "0.12.3"
    r = report_for(dump("ds_report_small_shm.txt"))
    assert statuses(r)["cuda.toolkit"] == "fail"  # deepspeed JIT-builds ops with nvcc 11.8 against torch cu121


@pytest.mark.parametrize("name, fmt, gpu", [
    ("accelerate_env.txt", "accelerate_env", "NVIDIA H100 80GB HBM3"),
    ("transformers_env.txt", "transformers_env", "Tesla T4"),
    ("huggingface_cli_env.txt", "huggingface_cli_env", None),
    ("llamafactory_env_new.txt", "llamafactory_env", "NVIDIA A800-SXM4-80GB"),
])
def test_env_reports(name, fmt, gpu):
    s = snap(name)
    assert s.meta.understood == (fmt,)
    assert s.torch.cuda is not None
    assert (s.gpus[0].name if s.gpus else None) == gpu


def test_llamafactory_gpu_count_and_accelerate_flags():
    s = snap("llamafactory_env_new.txt")
    assert len(s.gpus) == 8 and s.packages.version("vllm") == "0.7.3"
    a = snap("accelerate_env.txt")
    assert a.torch.cuda_available is True and a.packages.version("accelerate") == "0.30.1"


def test_unsloth_banner_traps():
    s = snap("unsloth_banner_t4.txt")
    assert s.gpus[0].compute_capability == "7.5"  # "CUDA = 7.5" is the compute capability
    assert s.torch.cuda == "12.1"  # "CUDA Toolkit = 12.1" is torch.version.cuda
    assert s.packages.version("xformers") == "0.0.27.post2"
    # "Bfloat16 = FALSE/TRUE" counts emulation; gpu.dtype judges from the compute capability
    assert statuses(report_for(dump("unsloth_banner_t4.txt")))["gpu.dtype"] == "warn"


def test_traceback_found_version_fails_cuda_driver_without_driver_line():
    r = report_for(dump("traceback_driver_too_old.txt"))
    # "found version 11040" states the driver's CUDA (11.4), with its provenance; no driver version is claimed
    assert r.snapshot.driver.version is None and r.snapshot.driver.cuda_version == "11.4"
    assert r.snapshot.meta.provenance["driver.cuda_version"] == "the error text"
    assert statuses(r)["cuda.driver"] == "fail"


def test_mixed_issue_body_with_fences_and_crlf():
    text = (DUMPS / "issue_body_mixed_crlf.md").read_bytes().decode()
    s = parse_dump(text, "issue")
    assert {"nvidia_smi", "pip_list"} <= set(s.meta.understood)
    assert len(s.gpus) == 2 and s.driver.cuda_version == "12.3"
    assert s.packages.version("vllm") == "0.5.0.post1" and s.torch.nccl == "2.20.5"
    r = report_for(text)
    shm = next(c for c in r.checks if c.id == "nccl.shm")  # the NCCL /dev/shm errors are nccl.shm's findings
    assert shm.status.value == "fail"
    assert "LD-NCCL-001" in {f.evidence.get("known_error") for f in shm.findings}
    assert statuses(r)["errors.known"] == "unknown"  # not reported twice


def test_parts_a_dump_lacks_stay_unknown():
    s = snap("nvcc_version.txt")
    for part in ("host", "python", "driver", "gpus", "gpu_links", "torch", "packages", "env"):
        assert getattr(s, part) is None, part
    r = report_for(dump("nvcc_version.txt"))
    assert set(statuses(r).values()) <= {"unknown", "not_applicable", "pass"}
    # expect.* and load.* are not applicable (nothing expected, no model given); every other check could not decide
    assert all(c.status.value == "unknown" for c in r.checks if c.id != "gpu.visible" and c.area not in ("expect", "load"))


@pytest.mark.parametrize("text", ["", "   \n\n", "hello world\nnothing to see here\n", "{}", "x=1\ny=2\n"])
def test_nothing_recognisable_is_usage_error(text):
    with pytest.raises(UsageError):
        parse_dump(text, "junk")


FIXTURES = sorted(p.name for p in DUMPS.iterdir())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FIXTURES), data=st.data())
def test_truncated_anywhere_never_crashes(name, data):
    text = dump(name)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    facts = parse_facts(text[start:end])  # never raises
    try:
        snap = parse_dump(text[start:end], "cut")
    except UsageError:
        assert not facts.anything
        return
    assert snap.meta.understood


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(text):
    try:
        parse_dump(text, "fuzz")
    except UsageError:
        pass


def test_old_vllm_collect_env_with_topology_at_column_0():
    s = snap("vllm_collect_env_old_4xa10g.txt")
    assert {"collect_env", "vllm_collect_env", "nvidia_smi_topo"} <= set(s.meta.understood)
    assert s.packages.version("vllm") == "0.5.0.post1"
    assert len(s.gpu_links) == 6 and {l.level for l in s.gpu_links} == {"HOSTBRIDGE"}
    assert s.torch.cuda == "12.1" and s.toolkit.nvcc_version == "11.5"
    r = report_for(dump("vllm_collect_env_old_4xa10g.txt"))
    assert statuses(r)["cuda.driver"] == "pass"  # judged against torch's 12.1, not nvcc's 11.5


def test_nccl_log_names_the_host():
    s = parse_dump(dump("issue_body_mixed_crlf.md"), "i")
    assert s.host.hostname == "node1"


@pytest.mark.parametrize("name", FIXTURES)
def test_parsed_snapshot_round_trips(name):
    from llmdoctor.snapshot import Snapshot

    s = parse_dump(dump(name), name)
    assert Snapshot.from_json(s.to_json()) == s


def test_cut_inside_the_gpu_list_keeps_what_was_read():
    text = dump("collect_env_a100_healthy.txt")
    cut = text[: text.index("GPU 1: NVIDIA A100") + len("GPU 1: NVI")]
    s = parse_dump(cut, "cut")
    assert s.torch.version == "2.4.0+cu121" and s.toolkit.nvcc_version == "12.1"
    assert s.gpus[0].name == "NVIDIA A100-SXM4-80GB"
    assert s.driver is None  # the driver line was after the cut: unknown, so cuda.driver skips
    assert statuses(report_for(cut))["cuda.driver"] == "unknown"
