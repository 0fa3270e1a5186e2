"""dist.launch (llmdoctor/checks/dist.py) on injected environments."""

from __future__ import annotations

import dataclasses
import types

import pytest

from llmdoctor.results import Status

from conftest import load_scenario

from .helpers import run


def text(result):
    return " | ".join(f.message for f in result.findings)


# --------------------------------------------------------------------------- dist.launch


def launch(env, gpus=8):
    snap = load_scenario("h100x8_healthy")
    return dataclasses.replace(snap, env=types.MappingProxyType(env), gpus=snap.gpus[:gpus])


def test_no_launcher_passes():
    assert run("dist.launch", launch({})).status is Status.PASS


def test_consistent_torchrun_passes():
    env = {"MASTER_ADDR": "10.0.0.11", "MASTER_PORT": "29500", "RANK": "9", "WORLD_SIZE": "16", "LOCAL_RANK": "1",
           "LOCAL_WORLD_SIZE": "8", "SLURM_NTASKS": "2", "SLURM_PROCID": "1"}
    assert run("dist.launch", launch(env)).status is Status.PASS


@pytest.mark.parametrize("env,status,words", [
    ({"RANK": "8", "WORLD_SIZE": "8"}, "fail", "not below WORLD_SIZE"),
    ({"MASTER_ADDR": "h", "MASTER_PORT": "70000"}, "fail", "not a TCP port"),
    ({"MASTER_ADDR": "h", "MASTER_PORT": "http"}, "fail", "not a TCP port"),
    ({"RANK": "one", "WORLD_SIZE": "2"}, "fail", "not a non-negative integer"),
    ({"MASTER_ADDR": "h"}, "warn", "without MASTER_PORT"),
    ({"WORLD_SIZE": "8", "RANK": "0", "SLURM_NTASKS": "4"}, "warn", "disagrees with SLURM_NTASKS"),
    ({"WORLD_SIZE": "8", "RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"}, "warn", "OMPI_COMM_WORLD_SIZE"),
    ({"LOCAL_RANK": "5", "LOCAL_WORLD_SIZE": "8", "RANK": "5", "WORLD_SIZE": "8"}, "warn", "only 4 GPU(s) are visible"),
    ({"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2"}, "fail", "not below LOCAL_WORLD_SIZE"),
])
def test_launch_problems(env, status, words):
    r = run("dist.launch", launch(env, gpus=4))
    assert r.status.value == status, text(r)
    assert words in text(r)


def test_cuda_visible_devices_limits_local_rank():
    r = run("dist.launch", launch({"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "3"}))
    assert r.status is Status.WARN and "cuda:1" in text(r)


def test_local_rank_with_the_gpu_count_unknown_is_not_a_pass():
    snap = dataclasses.replace(launch({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "a",
                                       "MASTER_PORT": "29500"}), gpus=None)
    result = run("dist.launch", snap)
    assert result.status is Status.UNKNOWN and "how many GPUs" in text(result)


def test_consistent_pass_states_the_values_read():
    result = run("dist.launch", launch({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "a",
                                         "MASTER_PORT": "29500"}))
    assert result.status is Status.PASS and "WORLD_SIZE=2" in result.findings[0].message
