"""The torch build-facts cache: hits when nothing changed, never trusted across a (re)install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from llmdoctor.probes import torch_cache
from llmdoctor.probes.torch_probe import probe_torch_cached

FAKE_TORCH = '''
__version__ = "{version}"
class version:
    cuda = None
    hip = None
    git_version = "fake"
    debug = False
class _C:
    pass
class backends:
    class cudnn:
        @staticmethod
        def version():
            return None
class cuda:
    @staticmethod
    def is_available():
        return False
    @staticmethod
    def device_count():
        return 0
'''


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LLMDOCTOR_CACHE_DIR", str(folder))
    monkeypatch.setenv("LLMDOCTOR_EXTENSION_IMPORTS", "0")
    return folder


def _venv_with_fake_torch(root: Path, version: str) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python*/site-packages"))
    install_fake_torch(site, version)
    return str(root / "bin" / "python")


def install_fake_torch(site: Path, version: str) -> None:
    """A stand-in for `pip install torch==VERSION`: the package and its dist-info, replacing any other.

    Like pip's uninstall, the old version's bytecode goes too: the new __init__.py has the same size and may
    have the same mtime second, so a stale __pycache__ entry would still be imported."""
    for old in site.glob("torch-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    shutil.rmtree(site / "torch" / "__pycache__", ignore_errors=True)
    (site / "torch").mkdir(exist_ok=True)
    (site / "torch" / "__init__.py").write_text(FAKE_TORCH.format(version=version))
    info = site / f"torch-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
    (info / "RECORD").write_text("torch/__init__.py,,\n")


def test_a_second_probe_is_served_from_the_cache_with_the_same_facts(cache_dir):
    first, status1 = probe_torch_cached(sys.executable, 60, "use")
    second, status2 = probe_torch_cached(sys.executable, 60, "use")
    assert status1.startswith("miss") and status1.endswith("stored")
    assert status2 == "hit"
    assert first.installed and first.version and second == first


def test_a_reinstalled_torch_is_seen_on_the_next_run(cache_dir, tmp_path):
    python = _venv_with_fake_torch(tmp_path / "venv", "2.1.0")
    assert probe_torch_cached(python, 60, "use")[0].version == "2.1.0"
    assert probe_torch_cached(python, 60, "use")[1] == "hit"
    install_fake_torch(next((tmp_path / "venv" / "lib").glob("python*/site-packages")), "2.2.0")
    facts, status = probe_torch_cached(python, 60, "use")
    assert facts.version == "2.2.0" and "packages changed" in status


@pytest.fixture(scope="module")
def fake_python(tmp_path_factory):
    """An interpreter whose torch imports in milliseconds: the cache's behaviour, not torch, is tested here
    (the real CPU torch is probed by the first test above)."""
    return _venv_with_fake_torch(tmp_path_factory.mktemp("fake-torch") / "venv", "2.5.1")


def test_refresh_reprobes_and_off_neither_reads_nor_writes(cache_dir, fake_python):
    probe_torch_cached(fake_python, 60, "use")
    assert probe_torch_cached(fake_python, 60, "refresh")[1].startswith("refresh")
    files = sorted(cache_dir.rglob("*.json"))
    before = [f.stat().st_mtime_ns for f in files]
    facts, status = probe_torch_cached(fake_python, 60, "off")
    assert status.startswith("disabled") and facts.installed
    assert [f.stat().st_mtime_ns for f in files] == before


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "someone-else/1", "torch": {}}), "[]"])
def test_a_corrupt_or_foreign_cache_file_is_ignored_and_replaced(cache_dir, content, fake_python):
    probe_torch_cached(fake_python, 60, "use")
    (path,) = cache_dir.rglob("*.json")
    path.write_text(content)
    facts, status = probe_torch_cached(fake_python, 60, "use")
    assert status.startswith("miss") and facts.installed
    assert json.loads(path.read_text())["format"] == torch_cache.FORMAT
    assert probe_torch_cached(fake_python, 60, "use")[1] == "hit"


def test_a_read_only_or_missing_cache_directory_means_no_cache_not_an_error(tmp_path, monkeypatch, fake_python):
    monkeypatch.setenv("LLMDOCTOR_EXTENSION_IMPORTS", "0")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("LLMDOCTOR_CACHE_DIR", str(ro / "sub"))
    try:
        if os.access(ro, os.W_OK):  # root ignores mode bits: use a path under a file instead
            monkeypatch.setenv("LLMDOCTOR_CACHE_DIR", str(tmp_path / "a-file" / "sub"))
            (tmp_path / "a-file").write_text("")
        facts, status = probe_torch_cached(fake_python, 60, "use")
        assert facts.installed and "not cached" in status
    finally:
        ro.chmod(0o700)


def test_concurrent_writers_leave_a_valid_file(cache_dir, fake_python):
    data, _ = torch_cache.probe_torch_cached(
        fake_python, 60, "off", run_full=lambda: _worker_output(fake_python), read_live=lambda: None)
    errors: list[str] = []

    def write() -> None:
        for _ in range(20):
            if torch_cache.store(fake_python, data) != "stored":
                errors.append("not stored")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert torch_cache.load(fake_python).status == "hit"
    assert not [p for p in cache_dir.rglob("*") if p.name.startswith(".tmp-")]


def _worker_output(python: str) -> dict:
    from llmdoctor.probes.target_runner import run_worker

    return run_worker(python, "torch", 60, ("60",))


BUILD = {"installed": True, "version": "2.4.0+cu121", "cuda": "12.1", "sys_path": []}
LIVE_OK = {"driver_cuda": 12040, "devices": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "capability": "9.0"}]}


def test_a_cpu_build_needs_no_driver_answer():
    merged = torch_cache.with_live_facts({**BUILD, "cuda": None}, None)
    assert merged is not None and merged["cuda_available"] is False and merged["devices"] == []


def test_a_cuda_build_takes_the_devices_from_the_driver():
    merged = torch_cache.with_live_facts(BUILD, LIVE_OK)
    assert merged is not None and merged["cuda_available"] and merged["device_count"] == 1
    assert merged["devices"][0]["capability"] == "9.0"


@pytest.mark.parametrize("live", [None, {"error": "cuInit failed with CUDA error 802"},
                                  {"driver_cuda": 11040, "devices": LIVE_OK["devices"]},
                                  {"driver_cuda": 12040, "devices": []}])
def test_when_the_driver_cannot_confirm_torch_is_probed_for_real(live):
    assert torch_cache.with_live_facts(BUILD, live) is None


@pytest.mark.parametrize("driver,torch_cuda,ok", [(12020, "12.1", True), (12000, "12.4", True), (11040, "12.1", False),
                                                  (13000, "12.8", True), (10020, "10.2", True), (10010, "10.2", False),
                                                  (None, "12.1", False)])
def test_runtime_supported_follows_minor_version_compatibility(driver, torch_cuda, ok):
    assert torch_cache.runtime_supported(driver, torch_cuda) is ok


def test_a_cached_cuda_build_whose_driver_is_missing_falls_back_to_the_full_probe(cache_dir):
    calls = []
    site = cache_dir.parent / "site"
    site.mkdir()
    torch_cache.store(sys.executable, {**BUILD, "sys_path": [str(site)]})

    def full():
        calls.append(1)
        return {**BUILD, "cuda_available": False, "device_count": 0, "devices": [], "cuda_error": "real text"}

    data, status = torch_cache.probe_torch_cached(sys.executable, 60, "use", full,
                                                  lambda: {"error": "libcuda could not be loaded"})
    assert calls and data["cuda_error"] == "real text" and status.startswith("hit, but")


FAKE_LIBCUDA = r"""
#include <string.h>
int cuInit(unsigned f) { return 0; }
int cuDriverGetVersion(int *v) { *v = 12040; return 0; }
int cuDeviceGetCount(int *n) { *n = 2; return 0; }
int cuDeviceGet(int *d, int i) { *d = i; return 0; }
int cuDeviceGetName(char *s, int len, int d) { strncpy(s, d ? "NVIDIA A100-SXM4-80GB" : "NVIDIA H100 80GB HBM3", len); return 0; }
int cuDeviceGetAttribute(int *v, int attr, int d) { *v = attr == 75 ? (d ? 8 : 9) : 0; return 0; }
"""


def test_cuda_live_reads_the_driver_api(tmp_path, monkeypatch):
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a stand-in libcuda")
    src = tmp_path / "fake_cuda.c"
    src.write_text(textwrap.dedent(FAKE_LIBCUDA))
    lib = tmp_path / "libcuda.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    monkeypatch.setenv("LLMDOCTOR_LIBCUDA", str(lib))
    from llmdoctor.probes import cuda_live

    live = cuda_live.read_live()
    assert live["driver_cuda"] == 12040
    assert [(d["name"], d["capability"]) for d in live["devices"]] == [("NVIDIA H100 80GB HBM3", "9.0"),
                                                                      ("NVIDIA A100-SXM4-80GB", "8.0")]


def test_cuda_live_without_a_driver_is_data(tmp_path, monkeypatch):
    from llmdoctor.probes import cuda_live

    monkeypatch.setenv("LLMDOCTOR_LIBCUDA", str(tmp_path / "missing" / "libcuda.so.1"))
    assert cuda_live.read_live()["error"].startswith("libcuda could not be loaded")


def test_a_warm_cli_run_starts_no_torch_worker(tmp_path, cache_dir):
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "LLMDOCTOR_FAKE_NVML": str(Path(__file__).parents[1] / "data" / "nvml" / "h100x8_driver535.json")}
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "llmdoctor", "snapshot", "--python", str(wrapper)], env=env,
                       capture_output=True, check=True, timeout=120)
    torch_runs = [line for line in log.read_text().splitlines() if " torch " in f" {line} "]
    assert len(torch_runs) == 1, log.read_text()
