"""llmdoctor/facts/derived.py: the one torch choice (best_torch_for) and the part-level helpers."""

import dataclasses

import pytest

from llmdoctor import data
from llmdoctor.facts.derived import (best_torch_for, best_torch_variant, driver_supports, found_version,
                                     max_cuda_of, platform_of, python_supported, why_unknown)
from llmdoctor.snapshot import Driver, Host, Meta, ProbeResult, Torch

from conftest import load_scenario

DRIVER_535 = Driver(version="535.104.05", cuda_version="12.2", platform="linux")


def _python_span(release: str) -> str:
    return next(r["python"] for r in data.load("torch_wheels")["releases"] if r["torch"] == release)


def test_python_38_gets_a_torch_that_has_wheels_for_it():
    # case_06 (Python 3.8, 2x RTX 3090): torch 2.5+ has no Python 3.8 wheels
    release, variant = best_torch_for(DRIVER_535, python="3.8.16", gpu_ccs=["8.6"])
    assert python_supported(_python_span(release), "3.8.16")
    assert release == "2.4" and variant.startswith("cu12")
    # without the Python constraint a newer release is chosen: the Python version is what decides
    newest, _ = best_torch_for(DRIVER_535, gpu_ccs=["8.6"])
    assert data.major_minor(newest) > (2, 4)


def test_the_snapshot_form_takes_the_python_of_the_snapshot():
    snap = load_scenario("h100x8_healthy")
    py38 = dataclasses.replace(snap, python=dataclasses.replace(snap.python, version="3.8.18"))
    assert best_torch_variant(py38)[0] == "2.4"
    assert best_torch_variant(py38) == best_torch_for(py38.driver, host=py38.host, python="3.8.18")


def test_driver_too_old_for_every_build_gives_none_and_unknown_driver_any():
    assert best_torch_for(Driver(version="342.01", platform="linux"), gpu_ccs=["8.0"]) is None
    assert best_torch_for(None) is not None


def test_same_release_is_preferred_when_the_driver_runs_it():
    old_driver = Driver(version="470.82.01", cuda_version="11.4", platform="linux")
    assert best_torch_for(old_driver, same_release_as="2.4.0+cu121") == ("2.4", "cu118")


def test_blackwell_needs_a_build_with_sm_120():
    release, variant = best_torch_for(Driver(version="570.124.06", cuda_version="12.8", platform="linux"),
                                      gpu_ccs=["12.0"])
    assert data.major_minor(release) >= (2, 7)
    assert variant in ("cu128", "cu129")


@pytest.mark.parametrize("driver, max_cuda, cuda, expected", [
    ("535.104.05", "12.2", "12.1", True),
    ("470.82.01", "11.4", "12.1", False),
    ("460.32.03", "11.2", "11.3", True),   # minor-version compatibility (pytorch/pytorch#77528)
    ("410.104", None, "10.2", False),      # before CUDA 11: the toolkit's own driver (440.33)
    (None, None, "12.1", None),
])
def test_driver_supports(driver, max_cuda, cuda, expected):
    assert driver_supports(driver, max_cuda, cuda, "linux") is expected


def test_platform_and_max_cuda_from_parts():
    assert platform_of(Driver(version="527.41"), Host(os="Windows")) == "windows"
    assert platform_of(None, None) == "linux"
    assert max_cuda_of(Driver(cuda_version="12.2")) == ("12.2", "reported by the driver")
    assert max_cuda_of(None) == (None, "unknown")


def test_found_version_reads_errors_and_torch_texts():
    text = "The NVIDIA driver on your system is too old (found version 11040)."
    assert found_version((text,), None) == ("11.4", text)
    assert found_version((), Torch(installed=True, cuda_error=text)) == ("11.4", text)
    assert found_version((), None) is None


def test_why_unknown_names_the_probe_reason():
    probes = (ProbeResult("nvml", False, "NVML Shared Library Not Found"),)
    assert why_unknown("gpus", probes, Meta()) == "gpus unknown: NVML Shared Library Not Found"
    assert why_unknown("env", (), Meta(source="dump")) == "env unknown: not in the input"


@pytest.mark.parametrize("raw, text", [(90501, "9.5.1"), (91002, "9.10.2"), (8902, "8.9.2"), (None, None), (0, None)])
def test_cudnn_text_is_the_one_decoder(raw, text):
    from llmdoctor.facts.derived import cudnn_text

    assert cudnn_text(raw) == text
