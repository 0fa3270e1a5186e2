import dataclasses

import pytest

from llmdoctor.results import Status

from .helpers import messages, run, scenario, with_driver, with_torch


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
def test_skips_when_there_is_no_cuda_runtime_to_match(name, fragment):
    result = run("cuda.driver", scenario(name))
    assert result.status is Status.UNKNOWN
    assert fragment in result.findings[0].message


def test_missing_driver_facts_skip_never_pass():
    snap = dataclasses.replace(scenario("h100x8_healthy"), driver=None)
    result = run("cuda.driver", snap)
    assert result.status is Status.UNKNOWN


def test_missing_torch_part_skips_with_reason():
    snap = dataclasses.replace(scenario("h100x8_healthy"), torch=None)
    assert run("cuda.driver", snap).status is Status.UNKNOWN
