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


# --------------------------------------------------------------------------- every NCCL remedy is in the fix (issue 12 §4)

import io
import shlex

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.fixes.registry import CannotFix, load_fixes, run_fix
from llmdoctor.snapshot import NetInterface

from conftest import SCENARIOS

ETH0 = NetInterface("eth0", True, False, ("10.0.0.11",))
LO = NetInterface("lo", True, True, ("127.0.0.1",))
DOCKER0 = NetInterface("docker0", True, False, ("172.17.0.1",))
ENS_DOWN = NetInterface("ens5", False, False, ())

# environments that make every nccl.* check give each of its remedies
ENVS = [
    {"NCCL_IB_HCA": "mlx5"},  # no IB device on the host: `unset NCCL_IB_HCA`
    {"NCCL_SOCKET_IFNAME": "ens"}, {"NCCL_SOCKET_IFNAME": "docker,eth"}, {"NCCL_SOCKET_IFNAME": "lo"},
    {"NCCL_SOCKET_IFNAME": "e"}, {"GLOO_SOCKET_IFNAME": "eth9"}, {"GLOO_SOCKET_IFNAME": "lo", "WORLD_SIZE": "16",
                                                                  "LOCAL_WORLD_SIZE": "8"},
    {"NCCL_P2P_LEVEL": "nvl"}, {"NCCL_SOCKET_IFNAM": "eth0"}, {"NCCL_IB_GDR_LEVEL": "PHB"}, {"NCCL_LL_THRESHOLD": "0"},
    {"NCCL_P2P_DISABLE": "1", "NCCL_IB_DISABLE": "1", "NCCL_SHM_DISABLE": "1", "NCCL_NVLS_ENABLE": "0"},
    {"NCCL_DEBUG": "TRACE", "NCCL_DEBUG_SUBSYS": "ALL"},
    {"NCCL_ASYNC_ERROR_HANDLING": "1"}, {"TORCH_NCCL_BLOCKING_WAIT": "1"},
    {"NCCL_BLOCKING_WAIT": "1", "TORCH_NCCL_BLOCKING_WAIT": "0"}, {"TORCH_NCCL_ASYNC_ERROR_HANDLNG": "1"},
]


def _snapshots():
    for path in sorted(SCENARIOS.glob("*.json")):
        yield path.stem, load_scenario(path.stem)
    for base in ("h100x8_healthy", "nccl_misconfigured"):
        snap = load_scenario(base)
        host = dataclasses.replace(snap.host, interfaces=(ETH0, LO, DOCKER0, ENS_DOWN))
        for env in ENVS:
            for torch in ("2.1.2+cu121", "2.4.0+cu121"):
                t = dataclasses.replace(snap.torch, version=torch)
                yield f"{base} {env} torch {torch}", dataclasses.replace(
                    snap, host=host, torch=t, env=types.MappingProxyType({**(snap.env or {}), **env}))


def _change(command: str) -> tuple[str, str | None]:
    words = shlex.split(command)
    if words[0] == "unset":
        return words[1], None
    assert words[0] == "export", command
    name, _, value = words[1].partition("=")
    return name, value


def test_every_nccl_remedy_is_in_fix_nccl_and_in_env():
    specs = [s for s in load_registry() if s.id.startswith("nccl.")]
    seen = set()
    for label, snap in _snapshots():
        fixed = {(a.name, a.value) for a in nccl_actions(snap)}
        env = {(a.name, a.value) for a in env_actions(snap)}
        script = run_fix(load_fixes()["nccl"], snap, None, {"format": "sh"}).text
        for spec in specs:
            for finding in run_check(spec, snap, Context()).findings:
                if finding.fix != "nccl":
                    continue
                assert finding.remedy.commands, (label, spec.id, finding.message)
                for command in finding.remedy.commands:
                    change = _change(command)
                    seen.add(change[0])
                    assert change in fixed, (label, spec.id, command)
                    assert change in env, (label, spec.id, command)
                    wanted = f"unset {change[0]}" if change[1] is None else f"export {change[0]}={shlex.quote(change[1])}"
                    assert wanted.replace("'", "") in script.replace("'", ""), (label, command)
    assert {"NCCL_IB_HCA", "NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_P2P_LEVEL", "NCCL_DEBUG",
            "NCCL_NVLS_ENABLE", "TORCH_NCCL_ASYNC_ERROR_HANDLING", "NCCL_BLOCKING_WAIT"} <= seen


def test_the_issue_case_unset_nccl_ib_hca():
    snap = dataclasses.replace(load_scenario("h100x8_healthy"), env=types.MappingProxyType({"NCCL_IB_HCA": "mlx5"}))
    r = run_check(load_registry().get("nccl.ifname"), snap, Context())
    assert r.findings[0].remedy.commands == ("unset NCCL_IB_HCA",)
    assert ("NCCL_IB_HCA", None) in {(a.name, a.value) for a in nccl_actions(snap)}


# --------------------------------------------------------------------------- each format, read as its consumer reads it

MISCONF = "nccl_misconfigured"


def _artifact(fmt, snap=None):
    return run_fix(load_fixes()["nccl"], snap or load_scenario(MISCONF), None, {"format": fmt})


def _expected_sets(snap=None):
    return {a.name: a.value for a in nccl_actions(snap or load_scenario(MISCONF)) if a.value is not None}


def test_fix_nccl_is_registered_with_its_formats():
    spec = load_fixes()["nccl"]
    assert set(spec.options["format"].choices) >= {"sh", "fish", "powershell", "dotenv", "docker", "k8s"}
    with pytest.raises(Exception, match="format"):
        run_fix(spec, load_scenario(MISCONF), None, {"format": "tcsh"})


def test_docker_format_is_only_e_words():
    text = _artifact("docker").text
    words = shlex.split(text)
    assert words == text.split()  # nothing to unquote: `docker run $(...)` gives the same words
    assert words[0::2] == ["-e"] * (len(words) // 2)
    assert dict(w.split("=", 1) for w in words[1::2]) == _expected_sets()


def test_docker_format_refuses_a_value_that_cannot_travel_bare():
    snap = load_scenario(MISCONF)
    snap = dataclasses.replace(snap, env=types.MappingProxyType({"NCCL_IB_GDR_LEVEL": "PHB SYS"}))
    with pytest.raises(CannotFix, match="dotenv"):
        _artifact("docker", snap)


def test_dotenv_format_for_docker_env_file_and_python_dotenv():
    dotenv = pytest.importorskip("dotenv")
    text = _artifact("dotenv").text
    assert "--env-file" in text
    parsed = dict(dotenv.dotenv_values(stream=io.StringIO(text)))
    literal = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert parsed == literal == _expected_sets()


def test_k8s_format_is_a_container_env_list():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(_artifact("k8s").text)
    assert set(doc) == {"env"}
    assert {e["name"]: e["value"] for e in doc["env"]} == _expected_sets()


def test_the_docs_page_shows_how_each_format_is_used():
    from pathlib import Path

    from llmdoctor.fixes.shell import FORMATS

    page = (Path(__file__).resolve().parents[2] / "docs" / "fixes" / "nccl.md").read_text(encoding="utf-8")
    for fmt in FORMATS:
        assert f"`{fmt}`" in page, fmt
    for usage in ("docker run $(llmdoctor fix nccl -f docker)", "--env-file nccl.env", "spec.containers[].env"):
        assert usage in page


def test_the_fix_does_not_import_checks():
    import subprocess
    import sys

    code = ("import sys, llmdoctor.fixes.nccl; "
            "sys.exit(any(m.startswith('llmdoctor.checks') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
