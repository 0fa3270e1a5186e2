"""Probe children run in their own process group and die with it: on timeout, and when the CLI is
sent SIGTERM mid-probe.  A fake interpreter spawns a grandchild ``sleep`` and hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmdoctor.probes import collect, target_runner, torch_probe
from llmdoctor.probes.target_runner import WorkerFailed, run_group, run_worker


def _fake_python(tmp_path: Path) -> tuple[Path, Path]:
    pidfile = tmp_path / "pids"
    script = tmp_path / "python"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        sleep 300 &
        echo "$$ $!" > {pidfile}
        sleep 300
        """))
    script.chmod(0o755)
    return script, pidfile


def _gone(pgid: int) -> bool:
    """No live process in the group (a zombie left for a non-reaping PID 1 in a container is dead)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_pids(pidfile: Path) -> tuple[int, int]:
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            a, b = pidfile.read_text().split()
            return int(a), int(b)
        time.sleep(0.05)
    raise AssertionError("fake interpreter did not start")


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    script, pidfile = _fake_python(tmp_path)
    with pytest.raises(WorkerFailed, match="timed out"):
        run_worker(str(script), "torch", timeout=1.0)
    pgid, grandchild = _wait_pids(pidfile)
    time.sleep(0.2)
    assert _gone(pgid)
    assert _dead(grandchild)
    assert pgid not in target_runner._LIVE  # this worker is forgotten (others, of other tests, may be alive)


def test_run_group_kills_grandchild_after_timeout(tmp_path: Path) -> None:
    script, pidfile = _fake_python(tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):
        run_group([str(script)], 1.0)
    pgid, _ = _wait_pids(pidfile)
    time.sleep(0.2)
    assert _gone(pgid)


def test_sigterm_to_cli_mid_probe_leaves_no_worker(tmp_path: Path) -> None:
    script, pidfile = _fake_python(tmp_path)
    cli = subprocess.Popen([sys.executable, "-m", "llmdoctor", "snapshot", "--python", str(script),
                            "--timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pgid, grandchild = _wait_pids(pidfile)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=20) == 143
    finally:
        if cli.poll() is None:
            cli.kill()
    time.sleep(0.2)
    assert _gone(pgid)
    assert _dead(grandchild)



def test_worker_timeout_names_the_budget(tmp_path):
    slow = tmp_path / "python"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(WorkerFailed) as err:
        run_worker(str(slow), "torch", 0.5)
    assert str(err.value) == "timed out after 0.5 s"


def test_collector_timeout_names_the_budget(monkeypatch):
    def hang(*args: object, **kwargs: object):
        time.sleep(3)

    monkeypatch.setenv("LLMDOCTOR_TORCH_CACHE", "off")  # where a torch facts cache exists, it is not asked
    monkeypatch.setattr(torch_probe, "probe_torch", hang)
    monkeypatch.setattr(torch_probe, "probe_torch_cached", hang, raising=False)
    snap = collect(timeout=0.5)
    record = next(p for p in snap.probes if p.name == "torch")
    assert not record.ok and record.reason == "torch probe timed out after 0.5 s"


def test_sigint_to_cli_mid_probe_leaves_no_worker(tmp_path: Path) -> None:
    script, pidfile = _fake_python(tmp_path)
    cli = subprocess.Popen([sys.executable, "-m", "llmdoctor", "snapshot", "--python", str(script), "--no-cache",
                            "--timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        pgid, grandchild = _wait_pids(pidfile)
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=20) == 130
        assert cli.stderr is not None and cli.stderr.read().strip() == "llmdoctor: interrupted"
    finally:
        if cli.poll() is None:
            cli.kill()
    time.sleep(0.2)
    assert _gone(pgid)
    assert _dead(grandchild)


def test_no_probe_starts_once_the_children_are_killed(monkeypatch) -> None:
    """kill_all closes the registry: a probe thread cannot start a child the exiting CLI would leave behind."""
    monkeypatch.setattr(target_runner, "_CLOSING", False)
    monkeypatch.setattr(target_runner, "_LIVE", {})  # other tests' workers are not this test's to kill
    monkeypatch.setattr(target_runner, "_PRESPAWNED", {})
    target_runner.kill_all()
    assert target_runner._CLOSING
    with pytest.raises(OSError, match="exiting"):
        target_runner.popen_group(["true"])
