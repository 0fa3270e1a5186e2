"""Expensive set-up done once per test run, even when pytest-xdist spreads the users over several workers.

``once_per_run(tmp_path_factory, key, build)`` calls ``build(folder)`` the first time any worker asks for
``key`` and hands every later caller (in this worker or another) the same JSON-able result.  ``folder`` is
a directory that lives as long as the run's temporary files, for what ``build`` writes (a virtual
environment, a model directory).  Workers serialise on a lock file in the run's shared temporary folder
(the pattern pytest-xdist documents for session fixtures); without xdist the result is kept in memory.
A ``build`` that raises is not cached: the next caller tries again (and fails the same way).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

_IN_PROCESS: dict[str, str] = {}


def once_per_run(tmp_path_factory: Any, key: str, build: Callable[[Path], Any]) -> Any:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or Path(tmp_path_factory.getbasetemp()).name != f"popen-{worker}":
        if key not in _IN_PROCESS:
            _IN_PROCESS[key] = json.dumps(build(tmp_path_factory.mktemp(key)))
        return json.loads(_IN_PROCESS[key])  # through JSON as across workers: the same types either way
    shared = Path(tmp_path_factory.getbasetemp()).parent  # the run's folder, above every worker's own
    result = shared / f"once-{key}.json"
    with open(shared / f"once-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return json.loads(result.read_text())
        folder = shared / f"once-{key}"
        shutil.rmtree(folder, ignore_errors=True)  # what a build that raised left behind
        folder.mkdir()
        value = build(folder)
        result.write_text(json.dumps(value))
        return value
