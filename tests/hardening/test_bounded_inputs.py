"""Special files and hostile pickles end in one clear line and exit 2, quickly: never a hang."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

from conftest import run_cli
from llmdoctor.engine import UsageError
from llmdoctor.memory.analyze import UnsafePickle, safe_load


def _one_line_exit_2(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args", [("check", "--from", "/dev/zero"), ("check", "--from", "/dev/urandom"),
                                  ("diff", "/dev/zero", "/dev/zero")])
def test_devices_are_refused(args: tuple[str, ...]) -> None:
    start = time.monotonic()
    line = _one_line_exit_2(run_cli(*args, timeout=30))
    assert "not a regular file" in line and time.monotonic() - start < 30


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (("check", "--from", str(fifo)), ("check", "--config", str(fifo))):
        line = _one_line_exit_2(run_cli(*args, timeout=30))
        assert "FIFO" in line


def test_open_stdin_is_bounded_in_time() -> None:
    from llmdoctor.boundedio import read_stdin

    r, w = os.pipe()
    try:
        start = time.monotonic()
        with pytest.raises(UsageError, match="no end of input"):
            read_stdin(seconds=0.5, fd=r)
        assert time.monotonic() - start < 3
    finally:
        os.close(r)
        os.close(w)


def test_stdin_is_bounded_in_bytes() -> None:
    from llmdoctor.boundedio import read_stdin

    r, w = os.pipe()
    os.write(w, b"x" * 5000)
    try:
        with pytest.raises(UsageError, match="more than"):
            read_stdin(max_bytes=4096, seconds=5, fd=r)
    finally:
        os.close(r)
        os.close(w)


def _self_list() -> bytes:
    a: list = []
    a.append(a)
    return pickle.dumps(a, protocol=2)


def _self_dict() -> bytes:
    d: dict = {}
    d["a"] = d
    return pickle.dumps(d, protocol=2)


def _bomb() -> bytes:
    x: list = ["x"]
    for _ in range(40):
        x = [x, x]
    return pickle.dumps(x, protocol=2)


def test_self_referencing_list_is_refused_quickly() -> None:
    raw = _self_list()
    assert len(raw) <= 20
    start = time.monotonic()
    with pytest.raises(UnsafePickle, match="self-referencing"):
        safe_load(raw)
    assert time.monotonic() - start < 1


def test_self_referencing_dict_is_refused() -> None:
    with pytest.raises(UnsafePickle, match="self-referencing"):
        safe_load(_self_dict())


def test_shared_reference_bomb_costs_its_size() -> None:
    start = time.monotonic()
    obj = safe_load(_bomb())  # 2**40 paths, 41 distinct objects: walked once each
    assert isinstance(obj, list)
    assert time.monotonic() - start < 1


def test_memory_analyze_cli_refuses_a_cycle(tmp_path: Path) -> None:
    p = tmp_path / "snap.pickle"
    p.write_bytes(_self_list())
    _one_line_exit_2(run_cli("memory", "analyze", str(p), timeout=30))
