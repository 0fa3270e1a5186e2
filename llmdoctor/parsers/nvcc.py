"""``nvcc --version``: 'Cuda compilation tools, release 12.1, V12.1.105'."""

from __future__ import annotations

import re

from ._accumulator import Facts

NAME = "nvcc"
_RELEASE = re.compile(r"Cuda compilation tools, release (\d+\.\d+)", re.I)


def detect(lines: list[str]) -> bool:
    return any(_RELEASE.search(line) for line in lines)


def parse(lines: list[str], facts: Facts) -> None:
    for line in lines:
        m = _RELEASE.search(line)
        if m:
            facts.put(facts.toolkit, "nvcc_version", m.group(1))
            facts.put(facts.toolkit, "nvcc_path", "nvcc")
            facts.put(facts.toolkit, "nvcc_source", "PATH")
            facts.saw(NAME)
            return
