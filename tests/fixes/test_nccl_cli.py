"""`llmdoctor fix nccl` and `llmdoctor env` through the real entry point, their output run by real shells."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import NVML_SCENARIOS, SCENARIOS, run_cli, run_json, statuses

MISCONF = str(SCENARIOS / "nccl_misconfigured.json")
UTF8 = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def bash_env_after(script: str, start_env: dict) -> dict:
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", 'eval "$1" && exec env -0', "bash", script],
                          capture_output=True, env={"PATH": os.environ["PATH"], **UTF8, **start_env}, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return dict(item.decode().split("=", 1) for item in proc.stdout.split(b"\0") if b"=" in item)


def test_fix_nccl_script_repairs_the_environment_when_sourced():
    proc = run_cli("fix", "nccl", "--from", MISCONF)
    assert proc.returncode == 0, proc.stderr
    start = {"NCCL_SOCKET_IFNAM": "eth0", "NCCL_IB_GDR_LEVEL": "PHB", "NCCL_P2P_DISABLE": "1", "NCCL_DEBUG": "INFO",
             "NCCL_ASYNC_ERROR_HANDLING": "1"}
    env = bash_env_after(proc.stdout, start)
    for gone in ("NCCL_SOCKET_IFNAM", "NCCL_IB_GDR_LEVEL", "NCCL_P2P_DISABLE", "NCCL_ASYNC_ERROR_HANDLING"):
        assert gone not in env
    # the misspelled NCCL_SOCKET_IFNAM=eth0 is carried as nccl.env says (eth0 is a real interface here)
    assert env["NCCL_SOCKET_IFNAME"] == "eth0"
    assert env["NCCL_NET_GDR_LEVEL"] == "PHB"
    assert env["NCCL_IB_HCA"] == "=mlx5_0,mlx5_1"
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
    assert env["NCCL_DEBUG"] == "WARN"
    # every action says why
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("export ", "unset ")):
            assert lines[i - 1].startswith("# "), line


def test_fixed_environment_passes_the_nccl_checks(tmp_path):
    """Apply the fix to the snapshot's env and check again: the warnings it targets are gone."""
    import json

    proc = run_cli("fix", "nccl", "--from", MISCONF)
    doc = json.loads(open(MISCONF).read())
    env = bash_env_after(proc.stdout, doc["env"])
    doc["env"] = {k: v for k, v in env.items() if k in doc["env"] or k.startswith(("NCCL_", "TORCH_"))}
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(doc))
    code, before = run_json("check", "--from", MISCONF, "-s", "nccl", "--json")
    code2, after = run_json("check", "--from", str(fixed), "-s", "nccl", "--json")
    assert statuses(before)["nccl.env"] == "warn" and statuses(before)["nccl.perf-switches"] == "warn"
    assert all(s == "pass" for s in statuses(after).values()), statuses(after)


@pytest.mark.parametrize("fmt,marker", [("fish", "set -gx NCCL_DEBUG 'WARN'"), ("powershell", "$env:NCCL_DEBUG = 'WARN'"),
                                        ("dotenv", "NCCL_DEBUG=WARN"), ("docker", "-e NCCL_DEBUG=WARN"),
                                        ("k8s", "- name: NCCL_DEBUG")])
def test_fix_nccl_formats(fmt, marker):
    proc = run_cli("fix", "nccl", "--from", MISCONF, "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout


def test_fix_nccl_output_file_is_atomic_and_not_clobbered(tmp_path):
    target = tmp_path / "nccl.sh"
    proc = run_cli("fix", "nccl", "--from", MISCONF, "-o", str(target))
    assert proc.returncode == 0 and target.read_text().startswith("# NCCL environment")
    target.write_text("mine\n")
    again = run_cli("fix", "nccl", "--from", MISCONF, "-o", str(target))
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert target.read_text() == "mine\n"
    forced = run_cli("fix", "nccl", "--from", MISCONF, "-o", str(target), "--force")
    assert forced.returncode == 0 and "export NCCL_DEBUG" in target.read_text()
    assert (tmp_path / "nccl.sh.bak").read_text() == "mine\n"


def test_bad_format_is_usage_error():
    proc = run_cli("fix", "nccl", "--from", MISCONF, "--format", "tcsh")
    assert proc.returncode == 2 and "tcsh" in proc.stderr and proc.stdout == ""
    proc = run_cli("env", "--from", MISCONF, "--shell", "tcsh")
    assert proc.returncode == 2 and proc.stdout == ""


def test_fix_list_names_nccl():
    proc = run_cli("fix", "--from", MISCONF)
    assert "llmdoctor fix nccl" in proc.stdout and "nccl.env" in proc.stdout


def test_env_eval_in_bash_sets_the_recommendations():
    proc = run_cli("env", "--from", MISCONF, "--shell", "bash")
    assert proc.returncode == 0, proc.stderr
    assert all(l.startswith(("# ", "export ", "unset ")) for l in proc.stdout.splitlines()), proc.stdout
    env = bash_env_after(proc.stdout, {})
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"  # torch 2.4: the old name
    assert env["NCCL_DEBUG"] == "WARN"


def test_env_fish_is_sourced_by_fish():
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (bash .ci/run installs it on Debian)")
    proc = run_cli("env", "--from", MISCONF, "--shell", "fish")
    out = subprocess.run(["fish", "--no-config", "-c", "source; and printf '%s|' $CUDA_DEVICE_ORDER $NCCL_SOCKET_IFNAME"],
                         input=proc.stdout, capture_output=True, text=True, env={**os.environ, **UTF8}, timeout=30)
    assert out.returncode == 0, out.stderr
    # the misspelled NCCL_SOCKET_IFNAM=eth0 is carried under its right name, as nccl.env says
    assert out.stdout == "PCI_BUS_ID|eth0|"


def test_env_live_probe_prints_only_the_script():
    """No --from: the live probe (fake NVML) runs; stdout is still only the script."""
    proc = run_cli("env", "--shell", "sh", env={"LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / "rtx4090x4_pcie_no_p2p.json")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "no exports"
    assert all(l.startswith(("# ", "export ", "unset ")) for l in proc.stdout.splitlines()), proc.stdout
    bash_env_after(proc.stdout, {})


def test_debug_ok_option():
    code, report = run_json("check", "--from", MISCONF, "-s", "nccl.perf-switches", "--json", "--debug-ok")
    finding_texts = [f["message"] for c in report["checks"] for f in c["findings"]]
    assert any("accepted with --debug-ok" in t for t in finding_texts)
