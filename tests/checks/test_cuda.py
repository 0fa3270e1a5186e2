"""cuda.driver, cuda.arch, cuda.toolkit (llmdoctor/checks/cuda.py)."""

import dataclasses

import pytest

from llmdoctor.results import Status
from llmdoctor.snapshot import Distribution, Gpu, Python, Toolkit

from .helpers import messages, run, scenario, with_driver, with_torch

# --------------------------------------------------------------------------- cuda.driver

def test_h100_driver_535_with_cu121_passes():
    result = run("cuda.driver", scenario("h100x8_healthy"))
    assert result.status is Status.PASS
    assert result.findings[0].evidence["driver_max_cuda"] == "12.2"


def test_driver_470_with_cu121_fails_and_names_both_ways_out():
    result = run("cuda.driver", scenario("a100_driver470_cu121"))
    assert result.status is Status.FAIL
    text = messages(result)
    assert "470.82.01" in text and "12.1" in text
    assert "≥ 530.30.02" in text  # CUDA 12.1's own driver (Table 3)
    assert "525.60.13" in text  # the 12.x minor-version-compatibility floor
    # the same torch release built for a CUDA this driver supports
    assert "torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118" in text


def test_minor_version_compatibility_is_not_a_false_alarm():
    # driver 460.32.03 reports CUDA 11.2; torch cu113 runs on it (pytorch/pytorch#77528)
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "460.32.03", "11.2"), version="1.12.1+cu113", cuda="11.3")
    result = run("cuda.driver", snap)
    assert result.status is Status.PASS
    assert "minor-version" in result.findings[0].message


def test_below_the_family_floor_fails_even_within_the_major():
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "450.36.06", "11.0"), version="1.12.1+cu113", cuda="11.3")
    assert run("cuda.driver", snap).status is Status.FAIL


def test_pre_cuda11_needs_the_exact_toolkit_driver():
    # case_16: torch 1.5.0 (CUDA 10.2, needs >= 440.33) on driver 410.104
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "410.104", None), version="1.5.0", cuda="10.2")
    result = run("cuda.driver", snap)
    assert result.status is Status.FAIL
    assert "440.33" in messages(result)


def test_cuda13_torch_needs_r580():
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "570.124.06", "12.8"), version="2.13.0+cu130", cuda="13.0")
    result = run("cuda.driver", snap)
    assert result.status is Status.FAIL
    assert "580.65.06" in messages(result)
    assert "cu128" in messages(result) or "cu126" in messages(result)


def test_windows_uses_the_windows_column():
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "527.41", None, platform="windows"), version="2.4.0+cu121", cuda="12.1")
    result = run("cuda.driver", snap)
    # 527.41 < 528.33 (12.x Windows floor) -> fails; on Linux numbering it would have passed
    assert result.status is Status.FAIL


def test_found_version_in_an_error_fails_without_a_driver_line():
    snap = dataclasses.replace(scenario("a100_driver470_cu121"), driver=None, gpus=None)
    result = run("cuda.driver", snap)
    assert result.status is Status.FAIL
    assert result.findings[0].evidence["driver_max_cuda"] == "11.4"


@pytest.mark.parametrize("name, fragment", [
    ("no_gpu", "CPU-only"),
    ("cpu_torch_on_gpu_host", "CPU-only"),
    ("torch_import_fails", "fails to import"),
])
def test_no_cuda_runtime_to_match_is_not_applicable_or_unknown(name, fragment):
    result = run("cuda.driver", scenario(name))
    # a CPU torch has no CUDA runtime (nothing to check); a torch that fails to import: its CUDA is unknown
    assert result.status is (Status.UNKNOWN if name == "torch_import_fails" else Status.NOT_APPLICABLE)
    assert fragment in result.findings[0].message


def test_missing_driver_facts_skip_never_pass():
    snap = dataclasses.replace(scenario("h100x8_healthy"), driver=None)
    result = run("cuda.driver", snap)
    assert result.status is Status.UNKNOWN


def test_missing_torch_part_skips_with_reason():
    snap = dataclasses.replace(scenario("h100x8_healthy"), torch=None)
    assert run("cuda.driver", snap).status is Status.UNKNOWN


# --------------------------------------------------------------------------- cuda.arch

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


def test_no_gpu_and_cpu_torch_are_not_applicable():
    assert run("cuda.arch", scenario("no_gpu")).status is Status.NOT_APPLICABLE
    assert run("cuda.arch", scenario("cpu_torch_on_gpu_host")).status is Status.NOT_APPLICABLE


def test_unknown_arch_list_and_version_skip():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None, version="9.9.0+cu999", cuda="99.9",
                      warnings=())
    assert run("cuda.arch", snap).status is Status.UNKNOWN
    # torch's own "sm_120 is not compatible" warning decides when the arch list is unknown (issue 3)
    warned = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None, version="9.9.0+cu999", cuda="99.9")
    assert run("cuda.arch", warned).status is Status.FAIL


# --------------------------------------------------------------------------- cuda.toolkit

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


def test_no_nvcc_is_not_applicable_unless_something_compiles():
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), None))
    assert result.status is Status.NOT_APPLICABLE  # never "nvcc matches torch's CUDA" without an nvcc
    assert "No nvcc installed" in result.findings[0].message
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), None, "deepspeed"))
    assert result.status is Status.WARN
    assert "nvidia-cuda-nvcc-cu12" in messages(result)


def test_nvcc_newer_than_the_driver_warns():
    # driver 535 = CUDA 12.2; nvcc 12.4 produces code the driver may not load
    result = run("cuda.toolkit", _with(scenario("h100x8_healthy"), "12.4"))
    assert any("newer than the driver" in f.message for f in result.findings)


def test_not_applicable_without_cuda_torch_unknown_without_toolkit_facts():
    assert run("cuda.toolkit", scenario("no_gpu")).status is Status.NOT_APPLICABLE
    assert run("cuda.toolkit", dataclasses.replace(scenario("h100x8_healthy"), toolkit=None)).status is Status.UNKNOWN


# --------------------------------------------------------------------------- contract: verdicts, remedies as data


def test_driver_fail_gives_the_pip_line_and_fix_pin_as_commands():
    result = run("cuda.driver", scenario("a100_driver470_cu121"))
    remedy = result.findings[0].remedy
    assert remedy.fix == "pin"  # a registered fix id, never "pin --repair"
    assert "llmdoctor fix pin --repair" in remedy.commands
    assert any(c.startswith("pip install --force-reinstall torch==2.4.0 --index-url") for c in remedy.commands)
    assert "pip install" not in remedy.text  # the command is not repeated in the prose


def test_a_driver_older_than_every_table_row_says_so_in_words():
    snap = with_torch(with_driver(scenario("h100x8_healthy"), "342.01", None), version="2.4.0+cu121", cuda="12.1")
    result = run("cuda.driver", snap)
    assert result.status is Status.FAIL
    message = result.findings[0].message
    assert "?" not in message and "older than 525.60.13" in message


def test_driver_unknown_is_unknown_and_no_gpu_is_not_applicable():
    snap = dataclasses.replace(scenario("h100x8_healthy"), driver=None)
    assert run("cuda.driver", snap).status is Status.UNKNOWN
    assert run("cuda.driver", dataclasses.replace(snap, gpus=())).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("cuda, pip_package", [
    ("12.1", "nvidia-cuda-nvcc-cu12"), ("11.8", "nvidia-cuda-nvcc-cu11"), ("11.3", None), ("10.2", None),
])
def test_toolkit_remedy_suggests_only_packages_that_exist(cuda, pip_package):
    # nvidia-cuda-nvcc-cu10 does not exist on PyPI; cu11 wheels exist for 11.7-11.8 only (the cu11x names are
    # placeholders that refuse to install)
    snap = with_torch(_with(scenario("h100x8_healthy"), None, "deepspeed"), version="2.0.0", cuda=cuda)
    result = run("cuda.toolkit", snap)
    assert result.status is Status.WARN
    commands = result.findings[0].remedy.commands
    pips = [c for c in commands if c.startswith("pip install")]
    if pip_package:
        assert pips == [f"pip install '{pip_package}=={cuda}.*'"]
    else:
        assert not pips
        assert "cuda-toolkit-archive" in str(result.findings[0].remedy) or any("conda" in c for c in commands)
    assert "nvidia-cuda-nvcc-cu10" not in messages(result)


def test_toolkit_without_packages_read_and_no_nvcc_is_unknown():
    snap = dataclasses.replace(_with(scenario("h100x8_healthy"), None), packages=None)
    assert run("cuda.toolkit", snap).status is Status.UNKNOWN


def test_arch_without_packages_read_does_not_pass():
    # the package minimums (vLLM, FlashAttention) were not checked: not a pass
    snap = dataclasses.replace(scenario("h100x8_healthy"), packages=None)
    result = run("cuda.arch", snap)
    assert result.status is Status.UNKNOWN
    assert any(f.status is Status.PASS for f in result.findings)  # what was read is still reported


def test_arch_remedy_for_python_38_names_a_torch_with_wheels_for_it():
    snap = with_torch(scenario("rtx5090_torch26_cu126"), arch_list=None)
    py38 = dataclasses.replace(snap, python=Python(version="3.8.18"))
    result = run("cuda.arch", py38)
    # every torch with sm_120 (2.7+) dropped Python 3.8: the remedy says so instead of blaming the driver
    remedy = result.findings[0].remedy
    assert "no wheels for Python 3.8.18" in remedy.text and "driver is too old" not in remedy.text
