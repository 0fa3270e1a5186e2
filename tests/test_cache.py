"""llmdoctor.cache: facts that change only with an install (here: the check plugins' entry points)."""

from __future__ import annotations

import shutil

import pytest

from llmdoctor import cache, engine


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LLMDOCTOR_CACHE_DIR", str(folder))
    monkeypatch.delenv("LLMDOCTOR_TORCH_CACHE", raising=False)
    return folder


def _plugin(site, name="myplugin"):
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[llmdoctor.checks]\n{name} = {name}_checks\n")
    return info


def test_an_installed_or_removed_plugin_is_seen_on_the_next_run(cache_dir, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert not [ep for ep in engine._entry_points() if ep[2] == "myplugin"]
    info = _plugin(site)
    assert ("myplugin", "myplugin_checks", "myplugin") in engine._entry_points()
    shutil.rmtree(info)
    assert not [ep for ep in engine._entry_points() if ep[2] == "myplugin"]


def test_a_second_run_reads_the_entry_points_from_the_cache(cache_dir, monkeypatch):
    first = engine._entry_points()
    monkeypatch.setattr(engine, "_scan_entry_points", lambda: pytest.fail("scanned again"))
    assert engine._entry_points() == first


def test_no_cache_neither_reads_nor_writes_and_refresh_rescans(cache_dir, monkeypatch):
    calls = []
    scan = engine._scan_entry_points
    monkeypatch.setattr(engine, "_scan_entry_points", lambda: calls.append(1) or scan())
    monkeypatch.setattr(cache, "_RUN_MODE", ["off"])
    engine._entry_points()
    engine._entry_points()
    assert len(calls) == 2 and not cache_dir.exists()
    monkeypatch.setattr(cache, "_RUN_MODE", ["refresh"])
    engine._entry_points()
    assert len(calls) == 3 and list(cache_dir.rglob("*.json"))
    monkeypatch.setattr(cache, "_RUN_MODE", [])
    engine._entry_points()
    assert len(calls) == 3


@pytest.mark.parametrize("content", ["{not json", '{"format": "llmdoctor.torch-cache/1", "entry_points": []}',
                                     '{"format": "llmdoctor.torch-cache/1", "sys_path": [], "fingerprint": "x", '
                                     '"entry_points": {"search": [], "llmdoctor.checks": [[1, 2]]}}'])
def test_a_corrupt_entry_point_cache_is_ignored_and_replaced(cache_dir, content):
    first = engine._entry_points()
    (path,) = (cache_dir / "entry_points").glob("*.json")
    path.write_text(content)
    assert engine._entry_points() == first
    assert cache.load(__import__("sys").executable, "entry_points").status == "hit"


def test_the_command_line_sets_the_mode_for_one_command():
    assert cache.mode_from_args(["check", "--no-cache"]) == "off"
    assert cache.mode_from_args(["check", "--refresh", "-v"]) == "refresh"
    assert cache.mode_from_args(["check"]) is None


@pytest.mark.parametrize("xdg", [None, "", "  ", "/tmp/xdg-cache"])
def test_the_linux_cache_folder_is_the_one_platformdirs_names(monkeypatch, xdg):
    import sys

    import platformdirs

    if not sys.platform.startswith("linux"):
        pytest.skip("the XDG rule is for Linux")
    monkeypatch.delenv("LLMDOCTOR_CACHE_DIR", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert cache.cache_dir() == platformdirs.user_cache_dir("llmdoctor", appauthor=False)
