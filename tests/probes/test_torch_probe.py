"""The torch probe, run for real: a real CPU torch, a broken torch, no torch, a hanging import."""

import subprocess
import sys
import time

import pytest

from llmdoctor.probes import collect
from llmdoctor.probes.target_runner import WorkerFailed
from llmdoctor.probes.torch_probe import probe_torch

from conftest import requires_torch


@requires_torch
def test_real_cpu_torch():
    t = probe_torch(sys.executable, timeout=120)
    import importlib.metadata as md

    assert t.installed and t.import_error is None
    assert t.version == md.version("torch")
    assert t.cuda is None  # the CPU build
    assert t.cuda_available is False and t.device_count == 0
    assert t.arch_list == ()
    assert t.file.endswith("torch/__init__.py")
    assert len(t.installs) == 1


def test_cli_process_never_imports_torch():
    code = ("import sys, llmdoctor.cli.app as a, llmdoctor.probes as p; p.collect(timeout=60); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def _fake_torch(tmp_path, body):
    pkg = tmp_path / "shadow" / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    return pkg.parent


def test_broken_torch_import_error_is_captured_verbatim(tmp_path, monkeypatch):
    shadow = _fake_torch(tmp_path, "raise ImportError('libcudnn.so.9: cannot open shared object file: No such file or directory')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    t = probe_torch(sys.executable, timeout=60)
    assert t.installed
    assert t.import_error == "ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory"
    assert str(shadow / "torch") in t.installs


def test_library_noise_on_stdout_does_not_confuse_the_probe(tmp_path, monkeypatch):
    shadow = _fake_torch(tmp_path, "print('{\"not\": \"ours\"}')\n__version__ = '9.9.9'\nclass version:\n    cuda = None\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    t = probe_torch(sys.executable, timeout=60)
    assert t.version == "9.9.9" and t.import_error is None


def test_hanging_torch_import_times_out(tmp_path, monkeypatch):
    shadow = _fake_torch(tmp_path, "import time\ntime.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    start = time.monotonic()
    snap = collect(timeout=2.0)
    assert time.monotonic() - start < 10
    probe = snap.probe("torch")
    assert not probe.ok and "timed out" in probe.reason
    assert snap.torch is None


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory):
    path = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def test_no_torch_in_another_interpreter(bare_venv):
    t = probe_torch(str(bare_venv), timeout=60)
    assert t.installed is False


def test_a_missing_interpreter_is_a_worker_failure(tmp_path):
    with pytest.raises(WorkerFailed, match="could not run"):
        probe_torch(str(tmp_path / "nope" / "python"), timeout=10)
