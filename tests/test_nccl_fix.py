"""The fix's decisions as pure functions of the snapshot (torch versions before/after the renames, allocator names)."""

from __future__ import annotations

import dataclasses
import types

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmdoctor.fixes.nccl import allocator_action, env_actions, nccl_actions
from llmdoctor.fixes.shell import render

from conftest import load_scenario


def with_torch(version, env=None, base="h100x8_healthy", **torch_changes):
    snap = load_scenario(base)
    t = dataclasses.replace(snap.torch, version=version, **torch_changes)
    return dataclasses.replace(snap, torch=t, env=types.MappingProxyType(dict(env or {})))


def by_name(actions):
    return {a.name: a.value for a in actions}


def test_async_error_handling_name_follows_torch_version():
    assert by_name(nccl_actions(with_torch("2.1.2+cu121")))["NCCL_ASYNC_ERROR_HANDLING"] == "1"
    new = by_name(nccl_actions(with_torch("2.2.0+cu121")))
    assert new["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1" and "NCCL_ASYNC_ERROR_HANDLING" not in new
    # an old name on old torch is left alone
    old = nccl_actions(with_torch("2.1.2", env={"NCCL_BLOCKING_WAIT": "1"}))
    assert "NCCL_BLOCKING_WAIT" not in by_name(old)


def test_valid_user_ifname_is_kept_and_invalid_is_replaced():
    assert "NCCL_SOCKET_IFNAME" not in by_name(nccl_actions(with_torch("2.4.0", env={"NCCL_SOCKET_IFNAME": "eth"})))
    assert by_name(nccl_actions(with_torch("2.4.0", env={"NCCL_SOCKET_IFNAME": "ens"})))["NCCL_SOCKET_IFNAME"] == "=eth0"


def test_no_interface_guess_when_default_route_is_virtual():
    snap = with_torch("2.4.0")
    host = dataclasses.replace(snap.host, default_route_interface=None,
                               interfaces=snap.host.interfaces + (dataclasses.replace(snap.host.interfaces[1], name="eth1"),))
    assert "NCCL_SOCKET_IFNAME" not in by_name(nccl_actions(dataclasses.replace(snap, host=host)))


@pytest.mark.parametrize("version,expected", [
    ("2.0.1+cu118", None), ("2.4.0+cu121", "PYTORCH_CUDA_ALLOC_CONF"), ("2.9.1+cu128", "PYTORCH_CUDA_ALLOC_CONF"),
    ("2.11.0+cu128", "PYTORCH_ALLOC_CONF"), ("2.13.0+cu130", "PYTORCH_ALLOC_CONF"),
])
def test_allocator_variable_by_torch_version(version, expected):
    action = allocator_action(with_torch(version))
    assert (action.name if action else None) == expected
    if action:
        assert action.value == "expandable_segments:True"


def test_allocator_left_alone_when_set_or_cpu_torch():
    assert allocator_action(with_torch("2.4.0", env={"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"})) is None
    assert allocator_action(with_torch("2.4.0+cpu", cuda=None)) is None


def test_env_on_a_host_without_gpus_has_no_nccl_exports():
    names = by_name(env_actions(load_scenario("no_gpu")))
    assert not any(n.startswith(("NCCL_", "TORCH_NCCL_")) for n in names)
    assert names["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_lowercase_level_is_corrected():
    assert by_name(nccl_actions(with_torch("2.4.0", env={"NCCL_P2P_LEVEL": "nvl"})))["NCCL_P2P_LEVEL"] == "NVL"
    assert "NCCL_P2P_LEVEL" not in by_name(nccl_actions(with_torch("2.4.0", env={"NCCL_P2P_LEVEL": "PIX"})))


NAMES = st.sampled_from(["NCCL_SOCKET_IFNAME", "NCCL_SOCKET_IFNAM", "NCCL_IB_GDR_LEVEL", "NCCL_P2P_LEVEL", "NCCL_P2P_DISABLE",
                         "NCCL_IB_HCA", "NCCL_DEBUG", "NCCL_ASYNC_ERROR_HANDLING", "TORCH_NCCL_BLOCKING_WAIT",
                         "NCCL_NVLS_ENABLE", "NCCL_X", "NCCL_BAD-NAME", "PYTORCH_CUDA_ALLOC_CONF"])
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=30, deadline=None)
@given(env=st.dictionaries(NAMES, VALUES, max_size=6), torch=st.sampled_from(["2.1.2", "2.4.0+cu121", "2.13.0+cu130"]))
def test_any_environment_gives_a_script_bash_can_run(env, torch):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    snap = with_torch(torch, env=env)
    script = render(env_actions(snap), "sh")
    start = {k: v for k, v in env.items() if "-" not in k and "\x00" not in v}
    proc = subprocess.run(["bash", "--norc", "-c", 'eval "$1"', "bash", script], capture_output=True,
                          env={"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", **start}, timeout=30)
    assert proc.returncode == 0, proc.stderr
