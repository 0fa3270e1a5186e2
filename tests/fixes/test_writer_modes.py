"""Written reports get 0644 minus umask: never the mode bits of the file they replace, never setuid."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from llmdoctor.fixes.writer import write_artifact


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_new_file_is_0644_minus_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = write_artifact(tmp_path / "r.txt", "x")
    finally:
        os.umask(old)
    assert _mode(out) == 0o640


def test_replacing_a_setuid_file_does_not_copy_its_bits(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    target.write_text("old")
    os.chmod(target, 0o4755)
    old = os.umask(0o022)
    try:
        write_artifact(target, "new", force=True)
    finally:
        os.umask(old)
    assert _mode(target) == 0o644
    assert not _mode(tmp_path / "r.txt.bak") & (stat.S_ISUID | stat.S_IXUSR)


def test_link_to_a_setuid_binary_is_replaced_not_followed_for_mode(tmp_path: Path) -> None:
    binary = tmp_path / "suid"
    binary.write_text("#!/bin/sh\n")
    os.chmod(binary, 0o4755)
    link = tmp_path / "report"
    link.symlink_to(binary)
    write_artifact(link, "report", force=True, backup=False)
    assert not _mode(link) & stat.S_ISUID and _mode(binary) == 0o4755
