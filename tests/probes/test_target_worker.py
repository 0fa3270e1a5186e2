"""probes/target_worker.py: the script the torch/packages/python probes run in the target interpreter."""

from __future__ import annotations

import ast
import json
import re
import subprocess

import pytest

from helpers.target_python import newer_syntax, oldest_python
from llmdoctor.probes.target_runner import MARKER, WORKER


def test_the_worker_is_standalone_and_typed_for_python38():
    source = WORKER.read_text()
    assert "from __future__ import annotations" in source  # annotations are never evaluated on 3.8
    ast.parse(source, feature_version=(3, 8))  # no match statement, no parenthesised context managers, ...
    assert newer_syntax(source) == []
    assert not re.search(r"^\s*(from|import) llmdoctor", source, re.M)


def test_newer_syntax_finds_what_python38_cannot_run():
    source = "def f(x: int | None) -> list[str]:\n    y: dict[str, int] = {}\n    return list[int]\n"
    assert len(newer_syntax(source)) == 4
    assert newer_syntax("from typing import List, Optional\ndef f(x: Optional[int]) -> List[str]:\n"
                        "    return [str(x | 1)]\n") == []


@pytest.mark.parametrize("what", ["python", "packages"])
def test_the_worker_runs_under_the_oldest_python_here(what):
    found = oldest_python()
    if found is None:
        pytest.skip("no CPython 3.8-3.10 on this machine")
    python, version = found
    out = subprocess.run([python, str(WORKER), what], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.rsplit(MARKER, 1)[1])
    assert "worker_error" not in result
    if what == "python":
        assert result["version"].startswith("%d.%d." % version)
    else:
        assert result["interpreter"] and isinstance(result["distributions"], list)
