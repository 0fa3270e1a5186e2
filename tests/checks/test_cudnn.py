import dataclasses

import pytest

from llmdoctor.facts.derived import decode_cudnn
from llmdoctor.results import Status

from .helpers import run, scenario, with_env, with_torch


@pytest.mark.parametrize("raw, expected", [(90100, (9, 1, 0)), (91002, (9, 10, 2)), (8902, (8, 9, 2)), (7605, (7, 6, 5)), (8600, (8, 6, 0))])
def test_version_decoding_follows_cudnn_version_h(raw, expected):
    assert decode_cudnn(raw) == expected


def test_wheel_cudnn_passes():
    result = run("cudnn.version", scenario("h100x8_healthy"))
    assert result.status is Status.PASS
    assert result.findings[0].evidence["cudnn"] == "9.1.0"


def test_system_cudnn_on_ld_library_path_shadowing_the_wheel_warns():
    snap = with_torch(scenario("h100x8_healthy"), loaded_libraries={"cudnn": "/public/apps/cudnn/v8.0.3/lib64/libcudnn.so.8"}, cudnn=8003)
    snap = with_env(snap, LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/public/apps/cudnn/v8.0.3/lib64")
    result = run("cudnn.version", snap)
    assert result.status is Status.WARN
    assert "/public/apps/cudnn/v8.0.3/lib64" in result.findings[0].remedy
    # the command to copy keeps the rest of the path
    assert result.findings[0].remedy.commands == ("export LD_LIBRARY_PATH=/usr/local/nvidia/lib64",)


def test_new_cudnn_with_the_gpus_unknown_is_not_a_pass():
    snap = dataclasses.replace(with_torch(scenario("h100x8_healthy"), cudnn=91700), gpus=None)
    assert run("cudnn.version", snap).status is Status.UNKNOWN


def test_new_cudnn_on_volta_warns():
    snap = with_torch(scenario("v100_fp16_only"), cudnn=91700)
    result = run("cudnn.version", snap)
    assert result.status is Status.WARN
    assert all(f.subject for f in result.findings)


def test_not_applicable_without_cuda_torch_and_unknown_without_facts():
    assert run("cudnn.version", scenario("no_gpu")).status is Status.NOT_APPLICABLE
    assert run("cudnn.version", scenario("torch_import_fails")).status is Status.UNKNOWN
    assert run("cudnn.version", with_torch(scenario("h100x8_healthy"), cudnn=None)).status is Status.UNKNOWN
