"""write_artifact: atomic, no clobber without force, .bak on replace, nothing half-written on failure."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmdoctor.fixes import writer
from llmdoctor.fixes.writer import WriteRefused, write_artifact


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_new_file_with_exact_bytes_and_umask_mode(tmp_path):
    target = tmp_path / "req.txt"
    old = os.umask(0o027)
    try:
        write_artifact(target, "a==1\nb==2\n")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"a==1\nb==2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "req.txt.bak").exists()


def test_refuses_to_clobber_without_force(tmp_path):
    target = tmp_path / "req.txt"
    target.write_text("mine\n")
    with pytest.raises(WriteRefused, match="exists; use --force"):
        write_artifact(target, "theirs\n")
    assert target.read_text() == "mine\n"
    assert leftovers(tmp_path) == [] and not (tmp_path / "req.txt.bak").exists()


def test_force_replaces_and_keeps_bak_with_old_mode(tmp_path):
    target = tmp_path / "run.sh"
    target.write_text("old\n")
    os.chmod(target, 0o751)
    write_artifact(target, "new\n", force=True)
    assert target.read_text() == "new\n"
    assert (tmp_path / "run.sh.bak").read_text() == "old\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~umask  # never the replaced file's bits (#19)
    # a second replace keeps only the latest previous version as .bak
    write_artifact(target, "newer\n", force=True)
    assert (tmp_path / "run.sh.bak").read_text() == "new\n"
    assert leftovers(tmp_path) == []


def test_force_without_backup(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    write_artifact(target, "new", force=True, backup=False)
    assert target.read_text() == "new" and not (tmp_path / "x.txt.bak").exists()


def test_explicit_mode(tmp_path):
    target = tmp_path / "fix.sh"
    write_artifact(target, "#!/bin/sh\n", mode=0o755)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


@pytest.mark.parametrize("make", ["dir", "missing_folder", "folder_is_file", "empty"])
def test_bad_targets_are_refused_and_nothing_is_created(tmp_path, make):
    if make == "dir":
        target = tmp_path
    elif make == "missing_folder":
        target = tmp_path / "no" / "such" / "x.txt"
    elif make == "folder_is_file":
        (tmp_path / "f").write_text("")
        target = tmp_path / "f" / "x.txt"
    else:
        target = ""
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(WriteRefused):
        write_artifact(target, "x")
    assert sorted(os.listdir(tmp_path)) == before


def test_non_regular_target_is_refused_even_with_force(tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(WriteRefused, match="not a regular file"):
        write_artifact(link, "x", force=True)
    assert os.path.islink(link) and not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc (a folder nobody can create files in)")
def test_unwritable_folder_even_for_root():
    with pytest.raises(WriteRefused, match="cannot write /proc/llmdoctor-test.txt"):
        write_artifact("/proc/llmdoctor-test.txt", "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(WriteRefused, match="Permission denied"):
            write_artifact(folder / "x.txt", "x")
        assert os.listdir(folder) == []
    finally:
        os.chmod(folder, 0o700)


@pytest.mark.parametrize("exists", [False, True])
@pytest.mark.parametrize("fail_at", ["fsync", "replace", "chmod"])
def test_failure_midway_leaves_target_untouched_and_no_temp_files(tmp_path, monkeypatch, exists, fail_at):
    target = tmp_path / "req.txt"
    if exists:
        target.write_text("original\n")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    if fail_at == "replace":
        real = os.replace

        def replace(src, dst):
            if Path(dst) == target:
                raise OSError(28, "No space left on device")
            return real(src, dst)

        monkeypatch.setattr(writer.os, "replace", replace)
        monkeypatch.setattr(writer.os, "link", boom)  # new files: force the rename path too
    else:
        monkeypatch.setattr(writer.os, fail_at, boom)
    with pytest.raises(WriteRefused, match="No space left on device"):
        write_artifact(target, "new content\n", force=True)
    assert leftovers(tmp_path) == []
    if exists:
        assert target.read_text() == "original\n"
    else:
        assert not target.exists()


def test_interrupt_midway_cleans_up_and_propagates(tmp_path, monkeypatch):
    target = tmp_path / "req.txt"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_artifact(target, "x")
    assert os.listdir(tmp_path) == []


def test_file_appearing_concurrently_is_not_clobbered(tmp_path, monkeypatch):
    target = tmp_path / "req.txt"
    real = tempfile.mkstemp

    def mkstemp_then_someone_writes(*a, **k):
        result = real(*a, **k)
        target.write_text("written by someone else\n")
        return result

    monkeypatch.setattr(writer.tempfile, "mkstemp", mkstemp_then_someone_writes)
    with pytest.raises(WriteRefused, match="exists"):
        write_artifact(target, "mine\n")
    assert target.read_text() == "written by someone else\n"
    assert leftovers(tmp_path) == []


def test_invalid_unicode_is_refused_before_touching_disk(tmp_path):
    with pytest.raises(WriteRefused, match="not valid Unicode"):
        write_artifact(tmp_path / "x.txt", "bad \udcff surrogate")
    assert os.listdir(tmp_path) == []


@settings(max_examples=40, deadline=None)
@given(st.text())
def test_any_text_round_trips_exactly(text):
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "out.txt"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            with pytest.raises(WriteRefused):
                write_artifact(target, text)
            return
        write_artifact(target, text)
        assert target.read_bytes() == text.encode("utf-8")
        assert os.listdir(d) == ["out.txt"]
