"""Pins the rows of data/packages.json that the packages.* checks rely on: each has a source, and the
patterns match the verbatim texts they were written from."""

from __future__ import annotations

import re

from packaging.requirements import Requirement

from llmdoctor import data


def rows(name):
    return data.load("packages")[name]["rows"]


def test_every_row_has_a_source():
    t = data.load("packages")
    for key, section in t.items():
        if isinstance(section, dict) and "rows" in section:
            for row in section["rows"]:
                assert row.get("source"), (key, row)
    assert t["flash_attn_local_tag"]["source"] and t["shared_namespaces"]["source"]


def test_torch_triton_pins():
    pins = {r["torch"]: r["triton"] for r in rows("torch_triton")}
    assert pins["2.4"] == "3.0" and pins["2.5"] == "3.1" and pins["2.6"] == "3.2" and pins["2.7"] == "3.3"


def test_numpy1_floors_and_deprecations():
    floors = {r["package"]: r["fixed_in"] for r in rows("numpy1_only")}
    assert floors == {"torch": "2.3", "torchvision": "0.19"}
    assert {r["package"]: r["replacement"] for r in rows("deprecated")} == {
        "pynvml": "nvidia-ml-py", "nvidia-ml-py3": "nvidia-ml-py"}
    bnb = rows("platform_notes")[0]
    assert (bnb["package"], bnb["platform"], bnb["below"]) == ("bitsandbytes", "windows", "0.43.0")


def test_module_groups_are_valid_requirements():
    groups = {r["module"]: r["packages"] for r in rows("module_groups")}
    assert len(groups["cv2"]) == 4
    for specs in groups.values():
        for spec in specs:
            Requirement(spec)


VERBATIM = {
    "xformers-built-for": "WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
                          "    PyTorch 2.2.1+cu118 with CUDA 1108 (you have 2.2.2+cu121)\n    Python  3.10.11 (you have 3.10.11)",
    "undefined-symbol": "ImportError: /x/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: "
                        "_ZN3c105ErrorC2ENS_14SourceLocationESs",
    "missing-torch-lib": "ImportError: libc10_cuda.so: cannot open shared object file: No such file or directory",
    "no-gpu-support": "UserWarning: The installed version of bitsandbytes was compiled without GPU support.",
    "cuda-not-linked": "/usr/bin/ld: cannot find -lcuda",
    "triton-attrsdescriptor": "ImportError: cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'",
    "numpy1-abi": "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.0 as it may crash.",
}


def test_error_patterns_match_their_verbatim_texts():
    pats = {r["id"]: r["pattern"] for r in data.load("packages")["error_patterns"]["rows"]}
    assert set(VERBATIM) <= set(pats)
    for pid, text in VERBATIM.items():
        assert re.search(pats[pid], text, re.I | re.S), pid
    m = re.search(pats["xformers-built-for"], VERBATIM["xformers-built-for"], re.I | re.S)
    assert (m.group("built"), m.group("have")) == ("2.2.1+cu118", "2.2.2+cu121")


def test_flash_attn_tag():
    m = re.search(data.load("packages")["flash_attn_local_tag"]["pattern"], "cu123torch2.4cxx11abiFALSE", re.I)
    assert (m.group("cuda"), m.group("torch"), m.group("abi")) == ("123", "2.4", "FALSE")
