"""The CLI's entry function run in this process, captured like a subprocess (stdout, stderr, exit code)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class _Capture(io.TextIOWrapper):
    """A text stream like a pipe: UTF-8, not a terminal."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]


@contextmanager
def _environment(env: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_in_process(args: list[str], env: dict[str, str | None], input: str | None = None,
                   cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    from llmdoctor.cli import main

    out, err = _Capture(), _Capture()
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode("utf-8")), encoding="utf-8")
    saved = sys.stdout, sys.stderr, sys.stdin
    old_cwd = os.getcwd()
    code: object = 0
    with _environment(env):
        sys.stdout, sys.stderr, sys.stdin = out, err, stdin
        try:
            if cwd is not None:
                os.chdir(cwd)
            main(args)
        except SystemExit as exc:
            code = exc.code
        finally:
            os.chdir(old_cwd)
            sys.stdout, sys.stderr, sys.stdin = saved
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["llmdoctor", *args], returncode, out.text(), err.text())
