"""probes/deep_worker.py: the deep-probe script run in the target interpreter."""

from __future__ import annotations

import ast
import json
import re
import subprocess

import pytest

from helpers.target_python import newer_syntax, oldest_python
from llmdoctor.probes.deep import WORKER
from llmdoctor.probes.target_runner import MARKER


def test_the_deep_worker_is_standalone_and_typed_for_python38():
    source = WORKER.read_text()
    assert "from __future__ import annotations" in source
    ast.parse(source, feature_version=(3, 8))  # no match statement, no parenthesised context managers, ...
    assert newer_syntax(source) == []
    assert not re.search(r"^\s*(from|import) llmdoctor", source, re.M)


def test_the_deep_worker_runs_under_the_oldest_python_here():
    found = oldest_python()
    if found is None:
        pytest.skip("no CPython 3.8-3.10 on this machine")
    out = subprocess.run([found[0], str(WORKER), "cpu-smoke", "5"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.rsplit(MARKER, 1)[1])
    assert "worker_error" not in result and result["mode"] in ("cpu-smoke", "not-run")
