"""Packages probe: PEP 610 direct_url.json is read, so `fix pin` knows an editable or URL install."""

from __future__ import annotations

import pytest

from llmdoctor.probes import packages


@pytest.mark.parametrize("doc,expected", [
    ('{"url": "file:///src/mylib", "dir_info": {"editable": true}}', {"direct_url": "file:///src/mylib", "editable": True}),
    ('{"url": "https://example.org/x.tar.gz", "archive_info": {}}', {"direct_url": "https://example.org/x.tar.gz", "editable": False}),
    ("not json", {}),
])
def test_direct_url_and_editable_are_read_from_pep_610(tmp_path, doc, expected):
    from importlib.metadata import PathDistribution

    from llmdoctor.probes import target_worker

    info = tmp_path / "mylib-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylib\nVersion: 1.0\n")
    (info / "direct_url.json").write_text(doc)
    assert target_worker._direct_url(PathDistribution(info)) == expected


def test_index_installs_have_no_direct_url():
    found = packages.probe_packages(None, 10.0).get("packaging")
    assert found is not None and found.direct_url is None and found.editable is False


# --- the metadata cache (issue 18): read once, never trusted across an install --------------------------

def _venv_with(root, *dists):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python*/site-packages"))
    for name, version in dists:
        _install(site, name, version)
    return str(root / "bin" / "python"), site


def _install(site, name, version):
    """A stand-in for `pip install NAME==VERSION`: its dist-info replaces any other version's."""
    import shutil

    for old in site.glob(f"{name}-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: six\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n")


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LLMDOCTOR_CACHE_DIR", str(folder))
    return folder


def test_a_second_probe_reads_the_metadata_from_the_cache_with_the_same_facts(cache_dir):
    first, status1 = packages.probe_packages_cached(None, 10.0, "use")
    second, status2 = packages.probe_packages_cached(None, 10.0, "use")
    assert status1.startswith("miss") and status1.endswith("stored") and status2 == "hit"
    assert second == first and any(d["name"] == "packaging" for d in second["distributions"])


def test_an_install_upgrade_or_removal_is_seen_on_the_next_run(cache_dir, tmp_path):
    import shutil

    python, site = _venv_with(tmp_path / "venv", ("alpha", "1.0"))

    def versions():
        data, status = packages.probe_packages_cached(python, 30.0, "use")
        # only ours: PYTHONPATH (a test runner's) may add folders with other distributions
        return {d["name"]: d["version"] for d in data["distributions"] if d["name"] in ("alpha", "beta")}, status

    assert versions() == ({"alpha": "1.0"}, "miss (not cached yet); stored")
    assert versions()[1] == "hit"
    _install(site, "alpha", "2.0")
    assert versions()[0] == {"alpha": "2.0"}
    _install(site, "beta", "0.1")
    assert versions()[0] == {"alpha": "2.0", "beta": "0.1"}
    shutil.rmtree(next(site.glob("alpha-*.dist-info")))
    found, status = versions()
    assert found == {"beta": "0.1"} and "packages changed" in status


def test_refresh_reprobes_and_no_cache_neither_reads_nor_writes(cache_dir):
    packages.probe_packages_cached(None, 10.0, "use")
    assert packages.probe_packages_cached(None, 10.0, "refresh")[1].startswith("refresh")
    files = sorted(cache_dir.rglob("*.json"))
    before = [f.stat().st_mtime_ns for f in files]
    data, status = packages.probe_packages_cached(None, 10.0, "off")
    assert status.startswith("disabled") and data["distributions"]
    assert [f.stat().st_mtime_ns for f in files] == before


def test_a_corrupt_packages_cache_file_is_ignored_and_replaced(cache_dir):
    packages.probe_packages_cached(None, 10.0, "use")
    (path,) = (cache_dir / "packages").glob("*.json")
    path.write_text('{"format": "llmdoctor.torch-cache/1", "packages": "not an object"}')
    data, status = packages.probe_packages_cached(None, 10.0, "use")
    assert "ignored" in status and data["distributions"]
    assert packages.probe_packages_cached(None, 10.0, "use")[1] == "hit"
