"""The torch probe's extension imports and the packages probe, run for real in a subprocess against
fake modules and crafted dist-info folders on PYTHONPATH."""

from __future__ import annotations

import sys
import time

from llmdoctor.probes.packages import packages_from_worker
from llmdoctor.probes.target_runner import run_worker
from llmdoctor.probes.torch_probe import probe_torch
from llmdoctor.snapshot import Snapshot

FAKE_TORCH = "__version__ = '9.9.9+cu124'\nclass version:\n    cuda = '12.4'\n"
XFORMERS = ("import logging\nlogging.getLogger('xformers').warning(\"WARNING[XFORMERS]: xFormers can't load C++/CUDA "
            "extensions. xFormers was built for:\\n    PyTorch 2.6.0+cu124 with CUDA 1204 (you have 9.9.9+cu124)\")\n")
FLASH = ("raise ImportError('/site/flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: undefined symbol: "
         "_ZN3c104cuda9SetDeviceEi')\n")
BNB = ("import warnings\nwarnings.warn('The installed version of bitsandbytes was compiled without GPU support. "
       "8-bit optimizers, 8-bit multiplication, and GPU quantization are unavailable.')\n")
TRITON_DRIVER = "def libcuda_dirs():\n    raise AssertionError('libcuda.so cannot found!')\n"
DS_INFO = ("version='0.14.0'\ninstalled_ops={'fused_adam': True, 'cpu_adam': False}\n"
           "torch_info={'version': '2.1', 'cuda_version': '12.1'}\n")


def _tree(root, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_extensions_are_imported_after_torch_and_errors_kept_verbatim(tmp_path, monkeypatch):
    shadow = _tree(tmp_path / "shadow", {
        "torch/__init__.py": FAKE_TORCH,
        "xformers/__init__.py": XFORMERS,
        "flash_attn_2_cuda.py": FLASH,
        "bitsandbytes/__init__.py": BNB,
        "triton/__init__.py": "",
        "triton/backends/__init__.py": "",
        "triton/backends/nvidia/__init__.py": "",
        "triton/backends/nvidia/driver.py": TRITON_DRIVER,
        "vllm/__init__.py": "raise RuntimeError('vllm/__init__ must not run')\n",
        "deepspeed/__init__.py": "raise RuntimeError('deepspeed/__init__ must not run')\n",
        "deepspeed/git_version_info_installed.py": DS_INFO,
    })
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    t = probe_torch(sys.executable, timeout=60)
    assert t.version == "9.9.9+cu124"
    ext = {e.name: e for e in t.extensions}
    assert list(ext) == ["triton", "triton:libcuda", "xformers", "flash_attn_2_cuda", "vllm._C", "bitsandbytes",
                         "deepspeed:ops"]
    assert ext["triton"].ok is True
    assert ext["triton:libcuda"].ok is False and "libcuda.so cannot found!" in ext["triton:libcuda"].error
    assert ext["xformers"].ok is True and "built for:\n    PyTorch 2.6.0+cu124" in ext["xformers"].warnings[0]
    assert ext["flash_attn_2_cuda"].ok is False
    assert ext["flash_attn_2_cuda"].error.endswith("undefined symbol: _ZN3c104cuda9SetDeviceEi")
    assert ext["vllm._C"].ok is False and "no _C extension file" in ext["vllm._C"].error
    assert ext["bitsandbytes"].ok is True and "compiled without GPU support" in ext["bitsandbytes"].warnings[0]
    assert ext["deepspeed:ops"].info == {"version": "2.1", "cuda_version": "12.1", "prebuilt_ops": "fused_adam"}
    # and they survive a snapshot round trip
    back = Snapshot.from_json(Snapshot(torch=t).to_json())
    assert back.torch.extensions == t.extensions


def test_a_hanging_import_is_abandoned_within_the_budget(tmp_path, monkeypatch):
    shadow = _tree(tmp_path / "shadow", {
        "torch/__init__.py": FAKE_TORCH,
        "xformers/__init__.py": "import time\ntime.sleep(120)\n",
        "bitsandbytes/__init__.py": "",
    })
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    start = time.monotonic()
    t = probe_torch(sys.executable, timeout=4)  # imports get 0.8 x 4 - 1 = 2.2 s of it
    took = time.monotonic() - start
    assert took < 4, took  # the worker answered before the caller's timeout
    ext = {e.name: e for e in t.extensions}
    assert ext["xformers"].ok is None and ext["xformers"].error.startswith("timed out after")
    assert ext["bitsandbytes"].ok is None and "hung" in ext["bitsandbytes"].error


def test_nothing_installed_means_no_imports(tmp_path, monkeypatch):
    shadow = _tree(tmp_path / "shadow", {"torch/__init__.py": FAKE_TORCH})
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    t = probe_torch(sys.executable, timeout=60)
    names = {e.name for e in t.extensions}
    assert not names & {"xformers", "flash_attn_2_cuda", "vllm._C", "bitsandbytes", "deepspeed:ops"}


def _dist_info(site, name, version, *, metadata=True, requires=(), record=None, folder=None):
    d = site / (folder or f"{name.replace('-', '_')}-{version}.dist-info")
    d.mkdir(parents=True)
    if metadata:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        (d / "METADATA").write_text("\n".join(lines) + "\n")
    if record is not None:
        (d / "RECORD").write_text(record)
    return d


def test_packages_probe_reports_broken_dist_info_and_reads_record(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist_info(site, "goodpkg", "1.0", requires=["numpy<2"],
               record="goodpkg/__init__.py,,\ngoodpkg/x.py,,\nnvidia/cublas/__init__.py,,\nsingle.py,,\n"
                      "fast.cpython-311-x86_64-linux-gnu.so,,\ngoodpkg-1.0.dist-info/METADATA,,\n../../bin/tool,,\n")
    ns = _dist_info(site, "lazr.uri", "1.0", record="lazr/__init__.py,,\nlazr/uri/__init__.py,,\n")
    (ns / "namespace_packages.txt").write_text("lazr\n")
    _dist_info(site, "nometa", "1.0", metadata=False)
    (site / "noversion-1.0.dist-info").mkdir()
    (site / "noversion-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: noversion\n")
    _dist_info(site, "torch", "2.1.0", folder="~orch-2.1.0.dist-info")
    (site / "binary-1.0.dist-info").mkdir()
    (site / "binary-1.0.dist-info" / "METADATA").write_bytes(b"Name: binary\nVersion: 1.0\nSummary: \xff\xfe\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    pk = packages_from_worker(run_worker(sys.executable, "packages", 60))
    good = pk.get("goodpkg")
    assert good.version == "1.0" and good.requires == ("numpy<2",)
    assert good.top_level == ("goodpkg", "single", "fast")  # nvidia/ is a namespace dir, not a top-level module
    assert pk.get("lazr.uri").top_level == ()  # a pkg_resources namespace is shared on purpose
    problems = " | ".join(pk.problems)
    assert "nometa-1.0.dist-info" in problems
    assert "noversion-1.0.dist-info: metadata without Version" in problems
    assert "~orch-2.1.0.dist-info: leftover of an interrupted pip" in problems
    # no torch from the leftover folder
    assert all(d.location != str(site) for d in pk.distributions if d.name == "torch")


def test_imports_can_be_turned_off(tmp_path, monkeypatch):
    shadow = _tree(tmp_path / "shadow", {"torch/__init__.py": FAKE_TORCH, "xformers/__init__.py": XFORMERS})
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    monkeypatch.setenv("LLMDOCTOR_EXTENSION_IMPORTS", "0")
    t = probe_torch(sys.executable, timeout=60)
    assert t.version == "9.9.9+cu124" and t.extensions is None
