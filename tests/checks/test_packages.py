"""packages.* checks as pure functions of scenario snapshots."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.results import Status
from llmdoctor.snapshot import (Distribution, ExtensionImport, Gpu, Host, Packages, Python, Snapshot, Torch)

CASE_22 = Path("/work/shared/cases/case_22.txt")
XFORMERS_WARNING = (
    "WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
    "    PyTorch 2.6.0+cu124 with CUDA 1204 (you have 2.8.0.dev20250331+cu128)\n"
    "    Python  3.12.9 (you have 3.12.9)\n"
    "  Please reinstall xformers (see https://github.com/facebookresearch/xformers#installing-xformers)\n"
    "  Memory-efficient attention, SwiGLU, sparse and more won't be available.\n"
)
H100 = (Gpu(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0"),)


def D(name, version, *requires, top=(), location="/site", installer="pip"):
    return Distribution(name=name, version=version, location=location, requires=tuple(requires),
                        installer=installer, top_level=tuple(top))


META = D("jinja2", "3.1.4", "MarkupSafe>=2.0", top=("jinja2",))  # a listing that carries metadata (a live probe's)


def snap(*dists, torch="2.5.1+cu124", gpus=H100, os="Linux", py="3.11.7", extensions=None, errors=(),
         problems=(), packages=True):
    t = None
    if torch is not None:
        t = Torch(installed=True, version=torch, cuda="12.4" if "cu" in torch else None, extensions=extensions)
    dists = list(dists)
    if torch is not None and packages and not any(d.name == "torch" for d in dists):
        dists.append(D("torch", torch, top=("torch",)))
    return Snapshot(
        host=Host(os=os, arch="x86_64", kernel="6.8.0"),
        python=Python(version=py, implementation="cpython") if py else None,
        gpus=gpus, torch=t, errors=tuple(errors),
        packages=Packages(distributions=tuple(dists), problems=tuple(problems)) if packages else None,
    )


def run(check_id, s):
    spec = load_registry().get(check_id)
    assert spec is not None, check_id
    return run_check(spec, s, Context())


def statuses(result):
    return [f.status for f in result.findings]


# --------------------------------------------------------------------------- torch-pins


def test_registered_ids_are_the_contract():
    ids = set(load_registry().ids())
    assert {"packages.torch-pins", "packages.imports", "packages.numpy-abi", "packages.triton",
            "packages.duplicates", "packages.pip-check"} <= ids


def test_xformers_built_for_warning_in_errors_fails_even_without_package_metadata():
    r = run("packages.torch-pins", snap(torch=None, packages=False, errors=[XFORMERS_WARNING]))
    assert r.status is Status.FAIL
    f = r.findings[0]
    assert f.evidence["built_for"] == "2.6.0+cu124"
    assert f.evidence["installed"] == "2.8.0.dev20250331+cu128"
    assert "2.8.0.dev20250331+cu128" in f.remedy


@pytest.mark.skipif(not CASE_22.exists(), reason="shared case files not present")
def test_case_22_error_line_as_pasted_fails():
    error = next(l[len("# error:"):].strip() for l in CASE_22.read_text().splitlines() if l.startswith("# error:"))
    body = "\n".join(l for l in CASE_22.read_text().splitlines() if not l.startswith("#"))
    for text in (error, body):
        r = run("packages.torch-pins", Snapshot(errors=(text,)))
        assert r.status is Status.FAIL, text
        assert r.findings[0].evidence["built_for"] == "2.6.0+cu124"


def test_xformers_warning_from_the_live_import_fails():
    ext = (ExtensionImport("xformers", ok=True, warnings=(XFORMERS_WARNING,)),)
    r = run("packages.torch-pins", snap(D("xformers", "0.0.29.post3", "torch==2.8.0"), torch="2.8.0+cu128",
                                        extensions=ext))
    assert r.status is Status.FAIL
    assert "xformers was built for torch 2.6.0+cu124" in r.findings[0].message


def test_requires_dist_pin_against_installed_torch():
    bad = run("packages.torch-pins", snap(D("torchvision", "0.27.0", "numpy", "torch (==2.12.0)"), torch="2.13.0+cpu"))
    assert bad.status is Status.FAIL
    assert "torchvision 0.27.0 requires torch==2.12.0" in bad.findings[0].message
    assert "torchvision==0.28.*" in bad.findings[0].remedy and "/whl/cpu" in bad.findings[0].remedy
    good = run("packages.torch-pins", snap(D("torchvision", "0.28.0+cpu", "torch==2.13.0"), torch="2.13.0+cpu"))
    assert good.status is Status.PASS and "torchvision" in good.findings[0].message


def test_pin_whose_marker_does_not_apply_to_the_target_is_ignored():
    d = D("vllm", "0.6.0", 'torch==2.4.0; sys_platform == "win32"', 'torch==2.5.1; sys_platform == "linux"')
    assert run("packages.torch-pins", snap(d, torch="2.5.1+cu124")).status is Status.PASS
    assert run("packages.torch-pins", snap(d, torch="2.5.1+cu124", os="Windows")).status is Status.FAIL


def test_local_cuda_tag_mismatch():
    minor = run("packages.torch-pins", snap(D("torchvision", "0.20.1+cu121", "torch==2.5.1"), torch="2.5.1+cu124"))
    assert minor.status is Status.WARN
    pinned = run("packages.torch-pins", snap(D("torchaudio", "2.5.1+cu121", "torch==2.5.1+cu121"), torch="2.5.1+cu124"))
    assert pinned.status is Status.FAIL and "requires torch==2.5.1+cu121" in pinned.findings[0].message
    cross = run("packages.torch-pins", snap(D("torchaudio", "2.5.1+cpu", "torch==2.5.1"), torch="2.5.1+cu124"))
    assert cross.status is Status.FAIL
    assert "/whl/cu124" in cross.findings[0].remedy


def test_flash_attn_wheel_tag_names_its_torch():
    d = D("flash-attn", "2.6.3+cu123torch2.4cxx11abiFALSE", "torch", "einops")
    assert run("packages.torch-pins", snap(d, torch="2.5.1+cu124")).status is Status.FAIL
    assert run("packages.torch-pins", snap(d, torch="2.4.1+cu124")).status is Status.PASS
    assert run("packages.torch-pins", snap(d, torch="2.4.1+cu118")).status is Status.FAIL


def test_dump_without_requires_uses_the_companion_table():
    r = run("packages.torch-pins", snap(D("torchvision", "0.19.0"), D("torchaudio", "2.5.0"), torch="2.5.1"))
    assert r.status is Status.FAIL
    assert [f.subject for f in r.findings] == ["torchvision"]


def test_deepspeed_ops_built_for_another_torch():
    ext = (ExtensionImport("deepspeed:ops", ok=True, info={"version": "2.1", "cuda_version": "12.1",
                                                           "prebuilt_ops": "fused_adam"}),)
    assert run("packages.torch-pins", snap(torch="2.5.1+cu124", extensions=ext)).status is Status.FAIL
    ext_jit = (ExtensionImport("deepspeed:ops", ok=True, info={"version": "2.1", "prebuilt_ops": ""}),)
    assert run("packages.torch-pins", snap(META, torch="2.5.1+cu124", extensions=ext_jit)).status is Status.PASS


def test_torch_pins_skip_without_torch_or_packages():
    # a complete listing without torch: nothing to check; a partial one (pip show) cannot tell
    assert run("packages.torch-pins", snap(D("numpy", "1.26.4"), torch=None)).status is Status.NOT_APPLICABLE
    partial = snap(D("numpy", "1.26.4"), torch=None)
    partial = dataclasses.replace(partial, packages=dataclasses.replace(partial.packages, complete=False))
    assert run("packages.torch-pins", partial).status is Status.UNKNOWN
    assert run("packages.torch-pins", Snapshot()).status is Status.UNKNOWN


# --------------------------------------------------------------------------- imports


def test_import_errors_are_mapped_to_cause_and_fix():
    sym = "ImportError: /x/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    ext = (ExtensionImport("triton", ok=True, seconds=0.3),
           ExtensionImport("flash_attn_2_cuda", ok=False, error=sym),
           ExtensionImport("bitsandbytes", ok=None, error="timed out after 15s"),
           ExtensionImport("vllm._C", ok=None, error="not tried: an earlier import (bitsandbytes) hung"))
    r = run("packages.imports", snap(extensions=ext))
    assert r.status is Status.FAIL
    by = {f.subject: f for f in r.findings}
    assert by["triton"].status is Status.PASS
    assert by["flash_attn_2_cuda"].status is Status.FAIL
    assert "_ZN3c104cuda9SetDeviceEi" in by["flash_attn_2_cuda"].message
    assert "flash-attn" in by["flash_attn_2_cuda"].remedy
    assert by["bitsandbytes"].status is Status.WARN
    assert by["vllm._C"].status is Status.UNKNOWN


def test_bitsandbytes_cpu_library_is_only_a_problem_on_a_gpu_host():
    w = ("The installed version of bitsandbytes was compiled without GPU support. 8-bit optimizers, 8-bit "
         "multiplication, and GPU quantization are unavailable.")
    ext = (ExtensionImport("bitsandbytes", ok=True, warnings=(w,)),)
    assert run("packages.imports", snap(extensions=ext)).status is Status.FAIL
    assert run("packages.imports", snap(extensions=ext, gpus=())).status is Status.PASS


def test_pasted_undefined_symbol_without_live_imports():
    text = ("Failed to import from vllm._C with ImportError('/usr/lib/python3/vllm/_C.abi3.so: undefined symbol: "
            "_ZN5torch7LibraryC1ENS0_4KindESsSt8optionalIN3c1011DispatchKeyEEPKcj')")
    r = run("packages.imports", Snapshot(errors=(text,)))
    assert r.status is Status.FAIL and r.findings[0].subject == "vllm._C"
    assert "vllm" in r.findings[0].remedy


def test_imports_skip_and_pass_reasons():
    assert run("packages.imports", Snapshot()).status is Status.UNKNOWN
    assert run("packages.imports", snap(extensions=None)).status is Status.UNKNOWN
    r = run("packages.imports", snap(extensions=()))  # nothing installed to import: not a pass, nothing to check
    assert r.status is Status.NOT_APPLICABLE and "no GPU extensions" in r.findings[0].message
    broken = Snapshot(torch=Torch(installed=True, import_error="ImportError: libcudnn.so.9"))
    assert "torch fails to import" in run("packages.imports", broken).findings[0].message


# --------------------------------------------------------------------------- numpy-abi


def test_numpy2_with_a_numpy1_pin_fails():
    r = run("packages.numpy-abi", snap(D("numpy", "2.1.0"), D("oldlib", "1.0", "numpy<2,>=1.21")))
    assert r.status is Status.FAIL and r.findings[0].subject == "oldlib"
    assert "numpy<2" in r.findings[0].remedy


def test_numpy2_with_torch_built_for_numpy1():
    assert run("packages.numpy-abi", snap(D("numpy", "2.0.0"), torch="2.2.2+cu121")).status is Status.FAIL
    assert run("packages.numpy-abi", snap(D("numpy", "2.0.0"), META, torch="2.5.1+cu124")).status is Status.PASS


def test_numpy1_is_fine_and_no_numpy_skips():
    assert run("packages.numpy-abi", snap(D("numpy", "1.26.4"), D("oldlib", "1.0", "numpy<2"),
                                          torch="2.1.0")).status is Status.PASS
    assert run("packages.numpy-abi", snap()).status is Status.NOT_APPLICABLE  # complete listing, no numpy


def test_numpy_error_text():
    text = ("A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.0 as it may crash. To support "
            "both 1.x and 2.x\nversions of NumPy, modules must be compiled with NumPy 2.0.")
    r = run("packages.numpy-abi", Snapshot(errors=(text,)))
    assert r.status is Status.FAIL and "NumPy 2.0.0" in r.findings[0].message


# --------------------------------------------------------------------------- triton

TORCH_251 = D("torch", "2.5.1+cu124", "filelock",
              'triton==3.1.0; platform_system == "Linux" and platform_machine == "x86_64" and python_version < "3.13"')


def test_triton_pin_from_torch_metadata():
    assert run("packages.triton", snap(TORCH_251, D("triton", "3.1.0"))).status is Status.PASS
    bad = run("packages.triton", snap(TORCH_251, D("triton", "3.2.0")))
    assert bad.status is Status.FAIL and "triton==3.1.0" in bad.findings[0].remedy
    missing = run("packages.triton", snap(TORCH_251))
    assert missing.status is Status.FAIL and "not installed" in missing.findings[0].message


def test_triton_pin_marker_needs_target_facts():
    # on Windows the pin does not apply; with an unknown Python version it cannot be judged
    assert run("packages.triton", snap(TORCH_251, os="Windows")).status is Status.NOT_APPLICABLE
    assert run("packages.triton", snap(TORCH_251, D("triton", "3.2.0"), py=None)).status is Status.UNKNOWN


def test_triton_without_torch_metadata_uses_the_release_table():
    r = run("packages.triton", snap(D("torch", "2.6.0"), D("triton", "3.1.0"), torch="2.6.0"))
    assert r.status is Status.WARN and "3.2" in r.findings[0].message


def test_triton_libcuda():
    miss = (ExtensionImport("triton:libcuda", ok=False, error="AssertionError: libcuda.so cannot found!"),)
    assert run("packages.triton", snap(extensions=miss)).status is Status.FAIL
    assert run("packages.triton", snap(extensions=miss, gpus=())).status is Status.PASS
    found = (ExtensionImport("triton:libcuda", ok=True, info={"libcuda_dirs": "/usr/lib/x86_64-linux-gnu"}),)
    r = run("packages.triton", snap(extensions=found))
    assert r.status is Status.PASS and "/usr/lib/x86_64-linux-gnu" in r.findings[0].message


def test_unsloth_cuda_not_linked_text():
    r = run("packages.triton", Snapshot(errors=("RuntimeError: Unsloth: CUDA is not linked properly.",)))
    assert r.status is Status.FAIL and "ldconfig" in r.findings[0].remedy


# --------------------------------------------------------------------------- duplicates


def test_pynvml_next_to_nvidia_ml_py_and_deprecated():
    r = run("packages.duplicates", snap(D("pynvml", "11.5.0", top=("pynvml",)), D("nvidia-ml-py", "12.560.30",
                                                                               top=("pynvml",))))
    assert r.status is Status.WARN
    msgs = " | ".join(f.message for f in r.findings)
    assert "module 'pynvml'" in msgs and "deprecated" in msgs


def test_new_pynvml_shim_is_deprecated_but_not_a_module_clash():
    r = run("packages.duplicates", snap(D("pynvml", "13.0.1", "nvidia-ml-py", top=("pynvml_utils",)),
                                        D("nvidia-ml-py", "13.580.82", top=("pynvml",))))
    assert [f.status for f in r.findings] == [Status.WARN]
    assert "deprecated" in r.findings[0].message


def test_opencv_variants_without_top_level_data():
    r = run("packages.duplicates", snap(D("opencv-python", "4.10.0.84"), D("opencv-python-headless", "4.9.0.80")))
    assert r.status is Status.WARN and r.findings[0].evidence["module"] == "cv2"


def test_two_copies_of_one_distribution_and_shared_namespaces():
    r = run("packages.duplicates", snap(D("torch", "2.5.1", top=("torch",), location="/env/site", installer="conda"),
                                        D("torch", "2.4.0+cu121", top=("torch",), location="/env/site", installer="pip"),
                                        D("nvidia-cublas-cu12", "12.4.5.8", top=("nvidia",)),
                                        D("nvidia-cudnn-cu12", "9.1.0.70", top=("nvidia",))))
    assert r.status is Status.WARN
    assert [f.subject for f in r.findings] == ["torch"]
    assert "conda" in r.findings[0].message and "pip" in r.findings[0].message


def test_bitsandbytes_on_windows_before_043():
    d = D("bitsandbytes", "0.41.1")
    assert run("packages.imports", snap(d, os="Windows", extensions=None)).status is Status.FAIL
    assert run("packages.imports", snap(d, extensions=())).status is Status.NOT_APPLICABLE
    assert run("packages.imports", snap(D("bitsandbytes", "0.43.0"), os="Windows",
                                        extensions=())).status is Status.NOT_APPLICABLE


# --------------------------------------------------------------------------- pip-check


def test_pip_check_missing_conflict_extras_and_markers():
    s = snap(D("a", "1.0", "b>=2", "c", 'd; extra == "dev"', 'e; python_version < "3.8"'),
             D("b", "1.5"))
    r = run("packages.pip-check", s)
    assert r.status is Status.WARN
    msgs = [f.message for f in r.findings]
    assert "a 1.0 requires c, which is not installed" in msgs
    assert "a 1.0 has requirement b>=2, but b 1.5 is installed" in msgs
    assert len(msgs) == 2  # d is an extra, e does not apply to Python 3.11


def test_pip_check_unknown_python_does_not_judge_marked_requirements():
    r = run("packages.pip-check", snap(D("a", "1.0", 'e; python_version < "3.8"'), py=None))
    assert r.status is Status.PASS and "not judged" in r.findings[0].message


def test_pip_check_prereleases_and_local_versions_satisfy_like_pip():
    assert run("packages.pip-check", snap(D("a", "1", "torch>=2.7"), torch="2.8.0.dev20250331+cu128")).status is Status.PASS
    assert run("packages.pip-check", snap(D("a", "1", "torch>=2.8"), torch="2.8.0.dev20250331+cu128")).status is Status.WARN


def test_broken_dist_info_and_invalid_requirements_are_reported_not_crashes():
    r = run("packages.pip-check", snap(D("a", "1.0", "foo >>= 1"), D("b", "not a version", "a"),
                                       problems=["/site/x-1.0.dist-info: metadata without Name"]))
    assert r.status is Status.WARN
    text = " | ".join(f.message for f in r.findings)
    assert "not valid PEP 508" in text and "x-1.0.dist-info" in text


def test_pip_check_clean_passes():
    assert run("packages.pip-check", snap(D("a", "1.0", "b>=1"), D("b", "1.5"))).status is Status.PASS


# --------------------------------------------------------------------------- robustness

names = st.sampled_from(["torch", "numpy", "triton", "pynvml", "nvidia-ml-py", "torchvision", "xformers", "a"])
versions = st.one_of(st.sampled_from(["2.5.1+cu124", "1.26.4", "2.0.0", "0.0.29.post3", "3.1.0", "11.5.0",
                                      "2.6.3+cu123torch2.4cxx11abiFALSE"]), st.text(max_size=12))
reqs = st.one_of(st.text(max_size=30), st.builds(lambda n, op, v: f"{n}{op}{v}", names,
                                                   st.sampled_from(["==", ">=", "<", "!=", "~="]), versions))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, versions, st.lists(reqs, max_size=3), st.lists(names, max_size=2)), max_size=6),
       st.lists(st.text(max_size=200), max_size=2))
def test_no_check_raises_on_arbitrary_metadata(rows, errors):
    dists = [D(n, v, *r, top=tuple(t)) for n, v, r, t in rows]
    s = Snapshot(host=Host(os="Linux", arch="x86_64"), python=Python(version="3.11.7", implementation="cpython"),
                 packages=Packages(distributions=tuple(dists)), errors=tuple(errors),
                 torch=Torch(installed=True, version=rows[0][1] if rows else None))
    for cid in ("packages.torch-pins", "packages.imports", "packages.numpy-abi", "packages.triton",
                "packages.duplicates", "packages.pip-check"):
        assert run(cid, s).status is not Status.ERROR, cid


def test_pip_check_skips_when_the_snapshot_has_no_requirement_data():
    r = run("packages.pip-check", snap(D("a", "1.0"), D("b", "1.5")))
    assert r.status is Status.UNKNOWN and "Requires-Dist" in r.findings[0].message


def test_older_snapshots_without_extensions_still_load():
    import json

    doc = json.loads(Snapshot(torch=Torch(installed=True, version="2.4.0")).to_json())
    del doc["torch"]["extensions"]
    back = Snapshot.from_dict(doc)
    assert back.torch.extensions is None


def test_triton_patch_difference_is_only_a_warning():
    r = run("packages.triton", snap(TORCH_251, D("triton", "3.1.1")))
    assert r.status is Status.WARN


def test_cli_on_a_saved_snapshot_with_the_case_22_warning(tmp_path):
    from conftest import run_json, statuses as report_statuses

    path = tmp_path / "snap.json"
    path.write_text(Snapshot(errors=(XFORMERS_WARNING,)).to_json())
    code, rep = run_json("check", "--from", str(path), "--select", "packages", "--json")
    assert code == 1
    st = report_statuses(rep)
    assert st["packages.torch-pins"] == "fail"
    assert st["packages.pip-check"] == "unknown" and st["packages.duplicates"] == "unknown"


def test_same_version_twice_in_one_folder_is_one_copy():
    r = run("packages.duplicates", snap(D("cryptography", "38.0.4", location="/usr/lib/python3/dist-packages"),
                                        D("cryptography", "38.0.4", location="/usr/lib/python3/dist-packages")))
    assert r.status is Status.PASS


def test_pure_python_lower_bound_is_worded_as_a_range():
    r = run("packages.torch-pins", snap(D("accelerate", "1.0.0", "torch>=2.0.0"), torch="1.13.1+cu117"))
    assert r.status is Status.FAIL and "torch APIs of that range" in r.findings[0].message


def test_triton_table_is_not_applied_to_nightlies():
    r = run("packages.triton", snap(D("torch", "2.8.0.dev20250331+cu128"), D("triton", "3.3.0"),
                                    torch="2.8.0.dev20250331+cu128"))
    assert r.status is Status.UNKNOWN
    r = run("packages.triton", snap(D("torch", "2.8.0+cu128"), D("triton", "3.3.0"), torch="2.8.0+cu128"))
    assert r.status is Status.WARN


def test_pypi_cuda_torchvision_next_to_a_cpu_torch():
    # what the venv test shows for real: PyPI torchvision links libc10_cuda.so, torch 2.13.0+cpu has none
    r = run("packages.torch-pins", snap(D("torchvision", "0.28.0", "torch==2.13.0"), torch="2.13.0+cpu"))
    assert r.status is Status.FAIL and "CUDA (PyPI)" in r.findings[0].message
    assert "/whl/cpu" in r.findings[0].remedy
    # on macOS (or without platform facts) an untagged wheel says nothing about CUDA
    assert run("packages.torch-pins", snap(D("torchvision", "0.28.0", "torch==2.13.0"), torch="2.13.0+cpu",
                                           os="Darwin")).status is Status.PASS
    # PyPI torch (CUDA) with a cu124 torchvision: both CUDA, the minor is unknown: fine
    assert run("packages.torch-pins", snap(D("torchvision", "0.20.1+cu124", "torch==2.5.1"),
                                           torch="2.5.1")).status is Status.PASS
    assert run("packages.torch-pins", snap(D("torchvision", "0.20.1+cpu", "torch==2.5.1"),
                                           torch="2.5.1")).status is Status.FAIL


def test_xformers_warning_split_into_lines_by_a_parser():
    lines = tuple(XFORMERS_WARNING.splitlines())
    r = run("packages.torch-pins", Snapshot(errors=lines))
    assert r.status is Status.FAIL and len(r.findings) == 1
    assert r.findings[0].evidence["installed"] == "2.8.0.dev20250331+cu128"


def test_pasted_errors_are_reported_once():
    sym = "ImportError: /x/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    r = run("packages.imports", Snapshot(errors=(sym, "Traceback (most recent call last):")))
    assert r.status is Status.FAIL and len(r.findings) == 1
    assert r.findings[0].subject == "flash_attn_2_cuda"


# --------------------------------------------------------------------------- partial listings (issue 12 §1)


def partial(s):
    return dataclasses.replace(s, packages=dataclasses.replace(s.packages, complete=False))


@pytest.mark.parametrize("check_id,dists", [
    ("packages.torch-pins", [D("torchvision", "0.20.1", "torch==2.5.1")]),
    ("packages.duplicates", [D("numpy", "1.26.4", top=("numpy",))]),
    ("packages.numpy-abi", [D("numpy", "2.1.0")]),
    ("packages.pip-check", [D("xformers", "0.0.28", "numpy", "torch")]),
])
def test_a_partial_listing_never_passes(check_id, dists):
    whole = snap(*dists, D("numpy", "2.1.0") if check_id == "packages.pip-check" else META,
                 D("MarkupSafe", "2.1.5"))
    assert run(check_id, whole).status is Status.PASS
    r = run(check_id, partial(snap(*dists, META)))
    assert r.status is Status.UNKNOWN, r.findings
    assert "partial" in r.findings[-1].message


def test_pip_check_on_a_partial_listing_keeps_real_conflicts():
    r = run("packages.pip-check", partial(snap(D("vllm", "0.6.0", "numpy<2", "ray"), D("numpy", "2.1.0"))))
    assert Status.WARN in statuses(r) and Status.UNKNOWN in statuses(r)
    messages = " | ".join(f.message for f in r.findings)
    assert "numpy 2.1.0 is installed" in messages and "ray" in messages and "not installed" not in messages


def test_triton_on_a_partial_listing_is_unknown_not_missing():
    r = run("packages.triton", partial(snap(TORCH_251)))
    assert r.status is Status.UNKNOWN and "not installed" not in r.findings[0].message
    assert run("packages.triton", snap(TORCH_251)).status is Status.FAIL  # a whole listing: really missing


def test_triton_not_installed_and_not_required_is_not_applicable():
    r = run("packages.triton", snap(D("torch", "2.5.1+cpu"), torch="2.5.1+cpu"))
    assert r.status is Status.NOT_APPLICABLE and "no triton is installed" in r.findings[0].message


# --------------------------------------------------------------------------- remedies name real distributions


def test_a_shared_library_is_never_pip_installed_by_its_file_name():
    """issue 13 §5: a cuDNN loader error must not become `pip install ... libcudnn_cnn_train`."""
    cudnn = ("Could not load library libcudnn_cnn_train.so.8. Error: /usr/lib/x86_64-linux-gnu/libcudnn_cnn_train.so.8: "
             "undefined symbol: _ZN5cudnn3cnn5infer22queryClusterPropertiesERPhS3_, version libcudnn_cnn_infer.so.8")
    r = run("packages.imports", Snapshot(errors=(cudnn,)))
    assert r.status is not Status.FAIL  # a cuDNN library mismatch is not an extension built for another torch
    for finding in r.findings:
        assert not any("libcudnn" in c for c in (finding.remedy.commands if finding.remedy else ())), finding
    # a live import whose missing library a wheel ships: reinstall that wheel, not the library's file name
    missing = "ImportError: libcudnn_cnn_train.so.8: cannot open shared object file: No such file or directory"
    ext = (ExtensionImport("flash_attn_2_cuda", ok=False, error=missing),)
    commands = [c for f in run("packages.imports", snap(extensions=ext)).findings for c in f.remedy.commands]
    assert commands == ["pip install --force-reinstall nvidia-cudnn-cu12"]
    # a library no wheel ships: no pip command at all
    ext = (ExtensionImport("flash_attn_2_cuda", ok=False, error=missing.replace("libcudnn_cnn_train", "libfoo")),)
    assert [c for f in run("packages.imports", snap(extensions=ext)).findings for c in f.remedy.commands] == []


def test_distribution_for_maps_modules_and_libraries():
    from llmdoctor.facts.packages import distribution_for

    assert distribution_for("flash_attn_2_cuda") == "flash-attn"
    assert distribution_for("libcudnn_cnn_train", 12) == "nvidia-cudnn-cu12"
    assert distribution_for("libcublasLt", 13) == "nvidia-cublas-cu13"
    assert distribution_for("libcudnn_ops_infer", None) is None  # CUDA major unknown: no guess
    assert distribution_for("libfoo") is None  # a system library: no pip command at all


def test_remedy_commands_are_lines_to_copy():
    """Commands carry no placeholders (<...>, {...}, ?) and every pip line names a PEP 508 requirement."""
    from packaging.requirements import Requirement

    texts = ["ImportError: /x/vllm/_C.abi3.so: undefined symbol: _ZN3c104cuda9SetDeviceEi",
             "The installed version of bitsandbytes was compiled without GPU support.",
             "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.0 as it may crash."]
    for cid in ("packages.imports", "packages.numpy-abi", "packages.torch-pins", "packages.triton"):
        for text in texts:
            for finding in run(cid, snap(D("numpy", "2.1.0"), errors=(text,))).findings:
                for command in finding.remedy.commands if finding.remedy else ():
                    assert not re.search(r"[{}?]|<[A-Za-z]", command), (cid, command)
                    if command.startswith("pip install"):
                        for word in command.split()[2:]:
                            if not word.startswith("-") and not word.startswith("http") and word != ":all:":
                                Requirement(word.strip("'"))


# --------------------------------------------------------------------------- public text only (issue 12 §2)

INTERNAL = re.compile(r"reference_facts|failure[_ ]catalog|shared/|Known error [A-Z]\d", re.IGNORECASE)


def _every_input():
    from conftest import SCENARIOS, load_scenario
    from dumps_helpers import CASES, DUMPS, case_input
    from llmdoctor.parsers import parse_dump

    for p in sorted(SCENARIOS.glob("*.json")):
        yield p.stem, load_scenario(p.stem)
    for p in sorted(CASES.glob("case_*.txt")):
        yield p.name, parse_dump(case_input(p.name), p.name)
    for p in sorted(DUMPS.glob("*")):
        yield p.name, parse_dump(p.read_text(encoding="utf-8"), p.name)


def test_nccl_and_packages_findings_and_explanations_cite_no_internal_file():
    import json

    specs = [s for s in load_registry() if s.id.startswith(("nccl.", "packages."))]
    for spec in specs:
        assert not INTERNAL.search(spec.explanation), spec.id
    for name, s in _every_input():
        for spec in specs:
            for finding in run_check(spec, s, Context()).findings:
                if finding.message.startswith("Known error"):
                    continue  # worded by facts/known_error_findings.py, not by these checks
                text = json.dumps(finding.to_dict(), ensure_ascii=False, default=str)
                assert not INTERNAL.search(text), f"{spec.id} on {name}: {text[:300]}"


@pytest.mark.parametrize("check_id,dists", [
    ("packages.torch-pins", [D("xformers", "0.0.28")]),
    ("packages.numpy-abi", [D("numpy", "2.1.0")]),
    ("packages.duplicates", [D("numpy", "1.26.4")]),
])
def test_a_listing_without_metadata_never_passes(check_id, dists):
    """A text dump lists names and versions only: what pins torch or installs which module is not read."""
    r = run(check_id, snap(*dists, torch=None if check_id == "packages.duplicates" else "2.5.1+cu124"))
    assert r.status is Status.UNKNOWN and "carries no" in r.findings[0].message, r.findings
