"""Pin the fact-table rows the checks rely on (each row must also carry a source)."""

import pytest

from llmdoctor import data


@pytest.mark.parametrize("name, rows_key", [("cuda_drivers", "toolkits"), ("cuda_drivers", "minor_compat_families"),
                                            ("gpus", "gpus"), ("dtypes", "rows"), ("torch_wheels", "releases"),
                                            ("package_min_cc", "rows")])
def test_every_row_has_a_source(name, rows_key):
    for row in data.load(name)[rows_key]:
        assert row.get("source"), (name, row)


@pytest.mark.parametrize("cuda, linux, windows", [
    ("12.1", "530.30.02", "531.14"), ("12.0", "525.60.13", "527.41"), ("11.8", "520.61.05", "520.06"),
    ("12.4", "550.54.14", "551.61"), ("12.8", "570.26", "570.65"), ("13.0", "580.65.06", None),
    ("10.2", "440.33", "441.22"), ("10.0", "410.48", "411.31"), ("11.4", "470.42.01", "471.11"),
])
def test_toolkit_driver_rows(cuda, linux, windows):
    row = data.toolkit_min_driver(cuda)
    assert row["linux"] == linux and row["windows"] == windows


@pytest.mark.parametrize("cuda, linux, windows", [("11.3", "450.80.02", "452.39"), ("12.6", "525.60.13", "528.33"), ("13.2", "580.65.06", "580.65.06")])
def test_minor_compat_floors(cuda, linux, windows):
    row = data.minor_compat_floor(cuda)
    assert (row["linux"], row["windows"]) == (linux, windows)


def test_no_minor_compat_before_cuda_11_1():
    assert data.minor_compat_floor("10.2") is None
    assert data.minor_compat_floor("11.0") is None


@pytest.mark.parametrize("driver, cuda", [("470.82.01", "11.4"), ("535.104.05", "12.2"), ("410.104", "10.0"), ("570.124.06", "12.8")])
def test_driver_max_cuda_derived_from_the_table(driver, cuda):
    assert data.driver_max_cuda_from_driver(driver) == cuda


@pytest.mark.parametrize("name, cc", [
    ("NVIDIA H100 80GB HBM3", "9.0"), ("NVIDIA H200", "9.0"), ("NVIDIA A100-SXM4-80GB", "8.0"), ("NVIDIA A10G", "8.6"),
    ("Tesla V100-SXM2-16GB", "7.0"), ("Tesla T4", "7.5"), ("NVIDIA GeForce RTX 4090", "8.9"), ("NVIDIA L4", "8.9"),
    ("NVIDIA GeForce RTX 5090 D", "12.0"), ("NVIDIA GeForce RTX 3080 Laptop GPU", "8.6"), ("NVIDIA B200", "10.0"),
    ("GeForce 210", "1.2"), ("NVIDIA GeForce RTX 3090", "8.6"), ("Tesla P100-PCIE-16GB", "6.0"), ("NVIDIA L40S", "8.9"),
])
def test_gpu_names_to_compute_capability(name, cc):
    assert data.gpu_by_name(name)["compute_capability"] == cc


@pytest.mark.parametrize("version, cuda, first, last", [
    ("2.4.0+cu121", "12.1", "sm_50", "sm_90"),
    ("2.6.0+cu126", "12.6", "sm_50", "sm_90"),
    ("2.7.0+cu128", "12.8", "sm_75", "sm_120"),
    ("2.8.0+cu128", "12.8", "sm_70", "sm_120"),
    ("2.11.0+cu128", "12.8", "sm_75", "sm_120"),
])
def test_torch_arch_lists(version, cuda, first, last):
    archs = data.torch_arch_list(version, cuda)
    assert archs[0] == first and last in archs


def test_first_blackwell_wheel_is_2_7_cu128():
    covering = [(r["torch"], n) for r, n, row in data.torch_variants(newest_first=False)
                if row.get("arch") and "12.0" in ";".join(row["arch"])]
    assert covering[0] == ("2.7", "cu128")
    assert not any("12.0" in ";".join(row["arch"] or []) for r, n, row in data.torch_variants() if n in ("cu124", "cu126"))


def test_index_urls():
    assert data.index_url("cu121") == "https://download.pytorch.org/whl/cu121"


def test_package_minimums():
    rows = {r["package"]: r["min_cc"] for r in data.package_min_cc()}
    assert rows["vllm"] == "7.0" and rows["flash-attn"] == "8.0" and rows["triton"] == "7.0"


@pytest.mark.parametrize("text, anywhere, mm, mm_text", [
    ("12.1.105", False, (12, 1), "12.1"),
    ("release 12.1, V12.1.105", False, None, None),       # at the start only, unless anywhere
    ("release 12.1, V12.1.105", True, (12, 1), "12.1"),
    ("V12.01", True, (12, 1), "12.1"),
    (None, True, None, None),
])
def test_major_minor_is_the_one_version_prefix_reader(text, anywhere, mm, mm_text):
    assert data.major_minor(text, anywhere=anywhere) == mm
    assert data.major_minor_text(text, anywhere=anywhere) == mm_text


@pytest.mark.parametrize("version, tag", [("2.4.0+cu121", "cu121"), ("2.4.0+CU121", "cu121"), ("2.4.0", None),
                                          (None, None)])
def test_local_tag_is_the_one_local_version_reader(version, tag):
    assert data.local_tag(version) == tag


@pytest.mark.parametrize("code, text", [(11040, "11.4"), (12020, "12.2"), (9000, "9.0"), (12090, "12.9")])
def test_cuda_version_text_decodes_cuda_integer_versions(code, text):
    assert data.cuda_version_text(code) == text


def test_tables_load_from_a_zipped_install_too(tmp_path):
    """Read beside the module when it is a folder; through importlib.resources when it is in a zip."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    import llmdoctor

    root = Path(llmdoctor.__file__).parent
    archive = tmp_path / "llmdoctor.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, Path("llmdoctor") / path.relative_to(root))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from llmdoctor import data; "
            "assert data.__file__.startswith(sys.argv[1]), data.__file__; print(len(data.rows('gpus', 'gpus')))")
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(archive)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(data.rows("gpus", "gpus")) > 0
