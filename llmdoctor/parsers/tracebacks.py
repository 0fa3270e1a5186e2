"""Python tracebacks, warnings and error lines; the facts some of torch's messages state.

Every known error message (data/error_patterns.json) found anywhere is kept, with the lines it spans;
so are the last lines of tracebacks and ``SomethingError: ...`` / ``...Warning: ...`` lines.
"""

from __future__ import annotations

import re

from ..facts.known_errors import find_in
from ._accumulator import Facts

NAME = "traceback"
ERRORS = "error_text"

_EXC = re.compile(r"^\s*(?:[\w.]+\.)?(?:[A-Z]\w*(?:Error|Exception|Warning)|AssertionError|KeyboardInterrupt)\s*:\s*(.*)$")
_OTHER = re.compile(r"^\s*(?:WARNING\[\w+\]:|NCCL WARN\b|.*\bNCCL WARN\b|CUDA error:|RuntimeError\b|ERROR\b:?)\s*(.*)$")
_ARCHS = re.compile(r"The current PyTorch install supports CUDA capabilities ((?:sm_\d+[a-z]?\s*)+)")
_NOT_COMPAT = re.compile(r"^(.+?) with CUDA capability sm_(\d+) is not compatible with the current PyTorch installation")
_YOUR_GPU = re.compile(r"Your (.+?) GPU has compute capability (\d+\.\d+)")
_NCCL = re.compile(r"NCCL version (\d+\.\d+\.\d+)")
_NCCL_HOST = re.compile(r"^\s*([A-Za-z0-9][\w.-]*):\d+:\d+ \[\d+\] (?:NCCL|\S+ NCCL)")


def parse(text: str, lines: list[str], facts: Facts) -> None:
    n_before = len(facts.errors)
    _error_lines(lines, facts)
    # known errors: keep the lines they span (messages may wrap over several lines)
    for start, end in sorted(set(find_in(text)))[:100]:
        facts.add_error(text[start:end])
    for line in lines:  # facts stated by torch's and NCCL's own messages
        _stated(line, facts)
    if len(facts.errors) > n_before:
        facts.saw(ERRORS)


def _error_lines(lines: list[str], facts: Facts) -> None:
    """Exception lines, the last line of each traceback, and other error-looking lines."""
    tb = False
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            tb = True
            facts.saw(NAME)
            continue
        m = _EXC.match(line)
        if m:
            msg = line.strip()
            if not m.group(1).strip() or msg.endswith(":"):
                # "UserWarning: " with the message on the next lines (torch's sm_XX warning)
                msg += " " + " ".join(x.strip() for x in lines[i + 1:i + 3] if x.strip())
            facts.add_error(msg)
            tb = False
            continue
        if tb and line and not line.startswith((" ", "\t")):
            facts.add_error(line)
            tb = False
        elif _OTHER.match(line) and len(line.strip()) > 12:
            facts.add_error(line)


def _stated(line: str, facts: Facts) -> None:
    m = _ARCHS.search(line)
    if m:
        facts.put(facts.torch, "arch_list", m.group(1).split())
    m = _NOT_COMPAT.match(line.strip())
    if m:
        _not_compatible(m, facts)
    m = _YOUR_GPU.search(line)
    if m and not any(g.get("name") for g in facts.gpus.values()):
        facts.put(facts.gpu(0), "name", m.group(1).strip())
        facts.put(facts.gpu(0), "compute_capability", m.group(2))
    m = _NCCL_HOST.match(line)
    if m and not m.group(1).isdigit():
        facts.put(facts.host, "hostname", m.group(1))  # NCCL prefixes its log lines with host:pid:tid
    m = _NCCL.search(line)
    if m and "NCCL" in line:
        facts.put(facts.torch, "nccl", m.group(1))


def _not_compatible(m: re.Match[str], facts: Facts) -> None:
    """"<GPU> with CUDA capability sm_XY is not compatible ...": the GPU's name and compute capability."""
    name = re.sub(r"^.*Warning:\s*", "", m.group(1)).strip()
    sm = m.group(2)
    cc = f"{sm[:-1]}.{sm[-1]}"
    idx = next((i for i, g in facts.gpus.items() if g.get("name") == name), None)
    if idx is None and not facts.gpus:
        idx = 0
        facts.put(facts.gpu(0), "name", name)
    if idx is not None:
        facts.put(facts.gpu(idx), "compute_capability", cc)


# words that make a line an error report even when no format or known message is recognised
_ERROR_WORD = re.compile(
    r"\b(?:error|errors|exception|traceback|failed|failure|fatal|abort(?:ed)?|killed|segmentation fault|"
    r"core dumped|panic|cannot|can't|could not|couldn't|unable to|not found|no such|denied|invalid|"
    r"timed? ?out|mismatch|unsupported|not supported|incompatible|illegal|out of memory|oom|refused|"
    r"undefined symbol|unhandled|warn(?:ing)?|xid|err|errno)\b", re.I)
_KEEP_LINES = 6


def looks_like_error(line: str) -> bool:
    return bool(_ERROR_WORD.search(line))


def keep_error_lines(lines: list[str], facts: Facts) -> None:
    """No known format nor message: keep the last lines that read as errors (an unknown error is data)."""
    hits = [line.strip() for line in lines if line.strip() and looks_like_error(line)]
    if not hits:
        return
    for line in hits[-_KEEP_LINES:]:
        facts.add_error(line)
    facts.saw(ERRORS)
