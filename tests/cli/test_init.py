"""The console-script entry point (llmdoctor/cli/__init__.py): start-up signals and --python ordering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SCENARIOS, run_cli

SLOW_IMPORT = '''import sys, time
sys.stderr.write("slow-import-started\\n"); sys.stderr.flush()
time.sleep(30)
'''


def test_ctrl_c_during_start_up_is_exit_130_without_a_traceback(tmp_path):
    """SIGINT while llmdoctor is still importing (a shadowed ``datetime`` that sleeps makes the moment certain)."""
    (tmp_path / "datetime.py").write_text(SLOW_IMPORT)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "llmdoctor", "check", "--from", str(SCENARIOS / "no_gpu.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line == "slow-import-started\n", line  # interrupted during the import, not after it
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip() == "llmdoctor: interrupted"


FAKE_PYTHON = '''#!/bin/sh
touch "{marker}"
exec "{real}" "$@"
'''


@pytest.fixture
def fake_python(tmp_path):
    """An interpreter named python3 (so llmdoctor does not test-run it) that leaves a marker when it runs."""
    marker = tmp_path / "ran"
    path = tmp_path / "bin" / "python3"
    path.parent.mkdir()
    path.write_text(FAKE_PYTHON.format(marker=marker, real=sys.executable))
    path.chmod(0o755)
    return path, marker


@pytest.mark.parametrize("bad", [["--format", "bogus"], ["--fail-on", "nope"], ["--select", "no.such.check"],
                                 ["--timeout", "0"], ["--model", "/no/such/model"], ["--bogus-flag"]])
def test_python_is_not_run_when_the_command_line_is_bad(fake_python, bad):
    python, marker = fake_python
    # in process: the entry function's own ordering is what is tested (the valid case below runs the console
    # script's process end to end)
    proc = run_cli("check", "--python", str(python), *bad)
    assert proc.returncode == 2, proc.stderr
    time.sleep(0.2)  # a spawned child would have touched the marker by now
    assert not marker.exists(), f"--python ran before validation ({bad})"


def test_python_is_run_once_the_command_line_is_valid(fake_python):
    python, marker = fake_python
    proc = run_cli("check", "--python", str(python), "--select", "torch", "--timeout", "20", "--no-cache",
                   process=True, timeout=90)
    assert proc.returncode in (0, 1), proc.stderr
    assert marker.exists()


def test_the_help_says_python_runs_the_interpreter():
    assert "This runs that interpreter" in " ".join(run_cli("check", "--help").stdout.split())


def test_a_check_of_a_saved_snapshot_installs_no_probe_process_handlers():
    """``check --from`` starts no probe process: the probe runner (and its group-killing handlers) is not imported."""
    code = ("import sys; sys.argv = ['llmdoctor', 'check', '--from', sys.argv[1], '--format', 'json']\n"
            "from llmdoctor.cli import main\n"
            "try: main()\n"
            "except SystemExit as e: print(e.code, 'llmdoctor.probes.target_runner' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(SCENARIOS / "h100x8_healthy.json")], capture_output=True,
                          text=True, timeout=60)
    assert '"checks"' in proc.stdout
    assert proc.stderr.split() == ["0", "False"], proc.stderr


def test_the_console_script_ends_without_a_last_collection_but_in_process_callers_keep_theirs():
    """The console entry freezes the collector's objects before the interpreter tears down (a fifth of a short
    run); a caller of main([...]) in its own process keeps its collector as it was."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: sys.stderr.write(f'frozen={gc.get_freeze_count() > 0}\\n'))\n"
            "from llmdoctor.cli import main\n"
            "if sys.argv[1] == 'script':\n"
            "    sys.argv = ['llmdoctor', '--version']; main()\n"
            "else:\n"
            "    try: main(['--version'])\n"
            "    except SystemExit: pass\n")
    for how, frozen in (("script", True), ("in-process", False)):
        proc = subprocess.run([sys.executable, "-c", code, how], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith("llmdoctor "), proc.stderr
        assert f"frozen={frozen}" in proc.stderr, (how, proc.stderr)
