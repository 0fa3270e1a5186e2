"""Real multi-process runs over loopback with gloo (torchrun, 2 ranks), each rank with its own fake NVML
scenario and environment (LLMDOCTOR_CLUSTER_TEST_RANK<k>).  Few and short: the machine is shared."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpers.shared import once_per_run
from tests.conftest import NVML_SCENARIOS, ROOT, requires_torch, run_cli

pytestmark = requires_torch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(overrides: dict[int, dict]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMDOCTOR_", "RANK", "WORLD_SIZE", "MASTER_"))}
    if "LLMDOCTOR_CACHE_DIR" in os.environ:  # the test run's cache (tests/conftest.py), not the user's
        env["LLMDOCTOR_CACHE_DIR"] = os.environ["LLMDOCTOR_CACHE_DIR"]
    env.update(NO_COLOR="1", COLUMNS="120", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for rank, data in overrides.items():
        env[f"LLMDOCTOR_CLUSTER_TEST_RANK{rank}"] = json.dumps(data)
    return env


def torchrun(*args: str, overrides: dict[int, dict], timeout: float = 150) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "llmdoctor.cluster", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=torchrun_env(overrides), cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def _warm_node_cache(tmp_path_factory):
    """Torch's build facts in the run's cache before the first launch, as on a node that ran llmdoctor before:
    each rank's node probe then reads them instead of starting its own `import torch` (one per node per
    launch).  What the ranks do with the facts is the same either way."""
    if "LLMDOCTOR_CACHE_DIR" not in os.environ:
        return

    def warm(_folder):
        proc = subprocess.run([sys.executable, "-m", "llmdoctor", "snapshot"], env=torchrun_env({}), cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        return proc.returncode

    once_per_run(tmp_path_factory, "cluster-node-cache", warm)


def checks(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def test_two_ranks_one_report_with_both_ranks_the_difference_named_and_a_straggler(tmp_path):
    overrides = {0: {"host": "node-a", "fake_nvml": str(NVML_SCENARIOS / "h100x8_driver535.json")},
                 1: {"host": "node-b", "local_rank": 0, "fake_nvml": str(NVML_SCENARIOS / "a100_driver470.json"),
                     "env": {"NCCL_PROTO": "LL"}, "slow": 8}}
    proc = torchrun("--timeout", "60", "-f", "json", "--bandwidth", "--max-size", "2M", "--stragglers",
                    "--save", str(tmp_path / "nodes"), overrides=overrides)
    assert proc.stdout, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    by_id = checks(report)
    assert proc.returncode == 1
    assert by_id["cluster.ranks"]["status"] == "pass"
    assert "all 2 ranks on 2 nodes reported" in by_id["cluster.ranks"]["findings"][0]["message"].lower()
    env = by_id["cluster.env"]
    assert env["status"] == "fail"
    assert "NCCL_PROTO differs between ranks: rank 1 (node-b): NCCL_PROTO=LL" in env["findings"][0]["message"]
    gpus = by_id["cluster.gpus"]
    assert gpus["status"] == "fail" and any("GPU count" in f["message"] for f in gpus["findings"])
    straggler = by_id["cluster.stragglers"]
    assert straggler["status"] == "fail"
    assert straggler["findings"][0]["message"].startswith("Rank 1 on node-b takes")
    bandwidth = by_id["cluster.bandwidth"]
    assert bandwidth["status"] == "not_applicable" and "gloo" in bandwidth["findings"][0]["message"]
    assert by_id["cluster.clock-skew"]["status"] == "pass"
    assert "cuda.driver" in by_id  # per-node checks ran on both nodes
    assert "cluster of 2 nodes, 2 ranks" in report["snapshot"]["meta"]["source_detail"]
    # the saved node files reproduce the cross-node verdicts offline (--from), without torch
    again = run_cli("cluster", "--from", str(tmp_path / "nodes"), "-f", "json")
    offline = checks(json.loads(again.stdout))
    assert offline["cluster.env"]["findings"][0]["message"] == env["findings"][0]["message"]
    assert offline["cluster.ranks"]["status"] == "pass"


def test_a_rank_that_hangs_is_reported_within_the_timeout_and_the_job_ends():
    start = time.monotonic()
    proc = torchrun("--timeout", "6", "-f", "json", "--select", "torch",
                    overrides={1: {"host": "node-b", "local_rank": 0, "sleep": 300}})
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert elapsed < 90, f"took {elapsed:.0f}s"
    report = json.loads(proc.stdout)
    ranks = checks(report)["cluster.ranks"]
    assert ranks["status"] == "fail"
    message = ranks["findings"][0]["message"]
    assert message.startswith("Rank 1 on node-b did not report within the timeout")
    # where it stopped: still probing its node on a busy machine, or in the (sleeping) rank facts
    assert "its last step was 'probing the node'" in message or "its last step was 'collecting rank facts'" in message


def test_single_rank_through_the_cli_and_a_crashing_probe_contributes_its_error():
    proc = run_cli("cluster", "--timeout", "30", "-f", "json", "--select", "torch",
                   env={"LLMDOCTOR_CLUSTER_TEST_RANK0": json.dumps({"crash": "probe exploded"}), "PYTHONPATH": str(ROOT)})
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    ranks = checks(report)["cluster.ranks"]
    assert ranks["status"] == "warn"
    assert "RuntimeError: probe exploded" in ranks["findings"][0]["message"]
    assert proc.returncode == 0


def _processes_with(token: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if token.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_ctrl_c_on_the_launcher_leaves_no_process_behind():
    token = f"LLMDOCTOR_TEST_TOKEN_{uuid.uuid4().hex}"
    env = torchrun_env({1: {"host": "node-b", "local_rank": 0, "sleep": 300}})
    env[token] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "llmdoctor.cluster", "--timeout", "120"]
    launcher = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_processes_with(token)) < 3:  # launcher + 2 ranks
            time.sleep(0.5)
        assert len(_processes_with(token)) >= 3
        time.sleep(2)
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the foreground group
        launcher.wait(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _processes_with(token):
            time.sleep(0.5)
        assert _processes_with(token) == []
    finally:
        for pid in _processes_with(token):
            os.kill(pid, signal.SIGKILL)


def test_a_rank_whose_rank_0_never_comes_up_exits_1_with_a_clear_line():
    env = torchrun_env({})
    env.update(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    # --timeout 1: torch's store client tries twice with a pause between, so every second here counts double
    proc = subprocess.run([sys.executable, "-m", "llmdoctor.cluster", "--timeout", "1"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "llmdoctor cluster: rank 1: cannot reach the store at 127.0.0.1:" in proc.stderr
