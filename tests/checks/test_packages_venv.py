"""packages.* end to end: ONE real virtual environment (built once per session) inspected with --python.

The venv sees the test interpreter's real torch 2.13.0 CPU (through a .pth file, so nothing big is
installed), gets the real torchvision 0.27.0 wheel (built for torch 2.12.0) with --no-deps, and crafted
distributions for the rest: an xformers whose metadata pins torch 2.6.0 and whose import logs xFormers'
"built for" warning, the deprecated pynvml 11 (its own pynvml module) next to nvidia-ml-py, NumPy 2 with
a package pinned to numpy<2, and broken dist-info folders.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv

import pytest

from conftest import requires_torch, run_json, statuses
from helpers.shared import once_per_run

pytestmark = [requires_torch, pytest.mark.slow]

XFORMERS = ("import logging\nimport torch\nlogging.getLogger('xformers').warning(\"WARNING[XFORMERS]: xFormers "
            "can't load C++/CUDA extensions. xFormers was built for:\\n    PyTorch 2.6.0+cu124 with CUDA 1204 "
            "(you have %s)\\n    Python  3.11.7 (you have 3.11.7)\" % torch.__version__)\n__version__ = '0.0.29.post3'\n")


def _dist(site, name, version, requires=(), files=None, folder=None, metadata=True):
    d = site / (folder or f"{name.replace('-', '_')}-{version}.dist-info")
    d.mkdir()
    if metadata:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        (d / "METADATA").write_text("\n".join(lines) + "\n")
        (d / "INSTALLER").write_text("pip\n")
    record = []
    for rel, text in (files or {}).items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        record.append(f"{rel},,")
    (d / "RECORD").write_text("\n".join(record + [f"{d.name}/METADATA,,"]) + "\n")


@pytest.fixture(scope="session")
def target(tmp_path_factory):
    """Built once per run: every xdist worker that runs a test here inspects the same venv."""
    return once_per_run(tmp_path_factory, "packages-venv", _build_target)


def _build_target(root):
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    py = root / "venv" / "bin" / "python"
    site_dir = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    from pathlib import Path

    site = Path(site_dir)
    # the real torch of the test interpreter, without copying 700 MB
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                           str(site), "torchvision==0.27.0"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"torchvision 0.27.0 wheel not available: {proc.stderr.strip().splitlines()[-1:]}")
    _dist(site, "xformers", "0.0.29.post3", ["torch==2.6.0", "numpy"], {"xformers/__init__.py": XFORMERS})
    _dist(site, "pynvml", "11.5.0", [], {"pynvml/__init__.py": "", "pynvml/smi.py": ""})
    _dist(site, "numpy", "2.1.0")  # metadata only: a fake numpy module would break the real torch import
    _dist(site, "oldlib", "1.0", ["numpy<2,>=1.21", "missing-dep>=1; python_version >= '3'"],
          {"oldlib/__init__.py": ""})
    _dist(site, "nometa", "1.0", metadata=False)
    _dist(site, "torch", "2.1.0", folder="~orch-2.1.0.dist-info")
    return str(py)


@pytest.fixture(scope="session")
def report(target, tmp_path_factory):
    def check(_folder):
        return run_json("check", "--python", target, "--select", "packages", "--json", "--timeout", "60")

    code, rep = once_per_run(tmp_path_factory, "packages-venv-report", check)
    return code, rep


def _findings(rep, check_id):
    return next(c for c in rep["checks"] if c["id"] == check_id)["findings"]


def test_exit_code_and_statuses(report):
    code, rep = report
    assert code == 1
    st = statuses(rep)
    assert st["packages.torch-pins"] == "fail"
    assert st["packages.imports"] == "fail"
    assert st["packages.numpy-abi"] == "fail"
    assert st["packages.duplicates"] == "warn"
    assert st["packages.pip-check"] == "warn"
    assert st["packages.triton"] == "not_applicable"  # the CPU wheel requires no triton and none is installed


def test_torch_pins_from_real_metadata_and_the_live_warning(report):
    _, rep = report
    msgs = [f["message"] for f in _findings(rep, "packages.torch-pins")]
    assert any(m.startswith("torchvision 0.27.0 requires torch==2.12.0, but torch 2.13.0") for m in msgs)
    assert any(m.startswith("xformers 0.0.29.post3 requires torch==2.6.0") for m in msgs)
    assert any(m.startswith("xformers was built for torch 2.6.0+cu124 but torch 2.13.0") for m in msgs)
    # the PyPI wheel is a CUDA build, torch is the +cpu one: named before anything fails to load
    assert any(m.startswith("torchvision 0.27.0 is a CUDA (PyPI) build but torch 2.13.0+cpu") for m in msgs)


def test_imports_load_the_real_torchvision_binary(report):
    _, rep = report
    by = {f["subject"]: f for f in _findings(rep, "packages.imports")}
    # the PyPI torchvision 0.27.0 binary does not load next to torch 2.13.0 CPU
    assert by["torchvision._C"]["status"] == "fail"
    assert by["torchvision._C"]["evidence"]["error"].startswith("ImportError: ")
    assert by["xformers"]["status"] == "fail"


def test_numpy_duplicates_pip_check(report):
    _, rep = report
    assert [f["subject"] for f in _findings(rep, "packages.numpy-abi")] == ["oldlib"]
    dup = " | ".join(f["message"] for f in _findings(rep, "packages.duplicates"))
    assert "module 'pynvml': nvidia-ml-py" in dup and "pynvml 11.5.0 is deprecated" in dup
    pip = " | ".join(f["message"] for f in _findings(rep, "packages.pip-check"))
    assert "oldlib 1.0 requires missing-dep, which is not installed" in pip
    assert "torchvision 0.27.0 requires pillow, which is not installed" in pip
    assert "nometa-1.0.dist-info" in pip and "~orch-2.1.0.dist-info" in pip


def test_the_report_carries_the_target_snapshot(report, target):
    _, rep = report
    snap = rep["snapshot"]
    names = {d["name"] for d in snap["packages"]["distributions"]}
    assert {"torchvision", "xformers", "pynvml", "oldlib"} <= names
    assert snap["packages"]["interpreter"] == target
    ext = {e["name"]: e for e in snap["torch"]["extensions"]}
    assert ext["torchvision._C"]["ok"] is False and ext["xformers"]["ok"] is True
