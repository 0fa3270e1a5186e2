"""Shared test helpers: scenario snapshots, running the real CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# The suite runs on shared, noisy machines: no per-example deadline (a slow example is not a failure),
# and no example database written into the tree.
settings.register_profile("llmdoctor", deadline=None, database=None)
settings.load_profile("llmdoctor")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCENARIOS = DATA / "scenarios"
NVML_SCENARIOS = DATA / "nvml"


def load_scenario(name: str):
    from llmdoctor.snapshot import Snapshot

    return Snapshot.from_json((SCENARIOS / f"{name}.json").read_text())


# Environment variables only a fresh interpreter sees (import paths, completion mode): such runs use a process.
PROCESS_ONLY_ENV = ("PYTHONPATH", "_LLMDOCTOR_COMPLETE")


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            cwd: str | Path | None = None, timeout: float = 120,
            process: bool = False) -> subprocess.CompletedProcess:
    """Run the CLI's entry function in this process (``process=True``: ``python -m llmdoctor`` in a subprocess).

    In process is the default: the same ``llmdoctor.cli.main`` the console script calls, with its stdout,
    stderr and exit code captured.  Use ``process=True`` where the process is what is tested (a torch-free
    CLI, signals, an interpreter's import path).
    """
    if process or any(k in (env or {}) for k in PROCESS_ONLY_ENV):
        return run_cli_process(*args, env=env, input=input, cwd=cwd, timeout=timeout)
    from helpers.cli import run_in_process

    return run_in_process(list(args), env=_cli_env(env), input=input, cwd=cwd)


def _cli_env(env: dict[str, str] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {"LLMDOCTOR_FAKE_NVML": None, "NO_COLOR": "1", "COLUMNS": "120"}
    out.update(env or {})
    return out


def run_cli_process(*args: str, env: dict[str, str] | None = None, input: str | None = None,
                    cwd: str | Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m llmdoctor`` (the real entry point) in a subprocess."""
    full_env = dict(os.environ)
    full_env.pop("LLMDOCTOR_FAKE_NVML", None)
    full_env["NO_COLOR"] = "1"
    full_env["COLUMNS"] = "120"
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "llmdoctor", *args], capture_output=True, text=True,
                          env=full_env, input=input, cwd=cwd, timeout=timeout)


def run_json(*args: str, **kw) -> tuple[int, dict]:
    proc = run_cli(*args, **kw)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


def has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


requires_torch = pytest.mark.skipif(not has_torch(), reason="needs a real torch (pip install torch==2.13.0)")


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu run only when asked for (-m gpu), as scripts/gpu-smoke.sh does."""
    if "gpu" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="needs a real NVIDIA GPU: run with -m gpu (scripts/gpu-smoke.sh)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _isolated_torch_cache(tmp_path_factory):
    """The torch build-facts cache lives in a folder of this test run, never in the user's cache.

    One folder for every xdist worker: the real interpreter's torch is probed (seconds) once per run, not
    once per worker (the cache's writes are atomic; tests of the cache itself use folders of their own)."""
    from helpers.shared import once_per_run

    os.environ.setdefault("LLMDOCTOR_CACHE_DIR", once_per_run(tmp_path_factory, "llmdoctor-cache", str))
    yield
