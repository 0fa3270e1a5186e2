"""Pasted text dumps -> Snapshot.

``parse_dump(text, name)`` recognises, anywhere in one text (a GitHub issue body may hold several):
torch's and vLLM's collect_env, nvidia-smi (table, -q, -L, topo -m), nvcc --version, pip list / freeze /
show, conda list, python -m bitsandbytes, ds_report, accelerate / transformers / huggingface-cli /
llamafactory-cli env, Unsloth's banner, tracebacks, warnings and known error messages.

Parsing is tolerant: Markdown fences, quote marks, CRLF, ANSI colours and truncation anywhere are fine;
what is not understood is ignored.  Facts the text does not state stay unknown.  Only when nothing at
all is recognised and no line reads as an error does it raise UsageError.  Big inputs are scanned in a bounded window (head and tail).
"""

from __future__ import annotations

from typing import Callable

from ..engine import UsageError
from ..snapshot import Snapshot
from . import (bitsandbytes, collect_env, ds_report, error_facts, hf_env, nvcc, nvidia_smi, pip, topo, tracebacks,
               unsloth)
from ._accumulator import Facts
from ._text import normalise, window

FORMATS = ("collect_env", "vllm_collect_env", "nvidia_smi", "nvidia_smi_q", "nvidia_smi_l", "nvidia_smi_topo",
           "nvcc", "pip_list", "pip_freeze", "pip_show", "conda_list", "bitsandbytes", "ds_report",
           "accelerate_env", "transformers_env", "huggingface_cli_env", "llamafactory_env", "unsloth_banner",
           "traceback", "error_text", "error_facts")


_Lines = list[str]
_FORMAT_PARSERS: tuple[tuple[tuple[Callable[[_Lines], bool], ...], Callable[[_Lines, Facts], None]], ...] = (
    ((nvidia_smi.detect_q,), nvidia_smi.parse_q),
    ((nvidia_smi.detect, nvidia_smi.detect_l), nvidia_smi.parse),
    ((nvcc.detect,), nvcc.parse),
    ((collect_env.detect, collect_env.detect_vllm), collect_env.parse),
    ((topo.detect,), topo.parse),
    ((ds_report.detect,), ds_report.parse),
    ((bitsandbytes.detect,), bitsandbytes.parse),
    ((unsloth.detect,), unsloth.parse),
)
_PIP_PARSERS: tuple[tuple[Callable[[_Lines], bool], Callable[[_Lines, Facts], None]], ...] = (
    (pip.detect_list, pip.parse_list),
    (pip.detect_freeze, pip.parse_freeze),
    (pip.detect_show, pip.parse_show),
    (pip.detect_conda, pip.parse_conda),
)


def parse_facts(text: str) -> Facts:
    """The facts a text states (no Snapshot yet); never raises on odd input."""
    scanned, _skipped = window(text)
    lines = normalise(scanned)
    flat = "\n".join(lines)
    facts = Facts()
    # most reliable sources first: the first to state a fact wins
    for detects, parse in _FORMAT_PARSERS:
        if any(d(lines) for d in detects):
            parse(lines, facts)
    if collect_env.detect_vllm(lines):
        facts.saw(collect_env.VLLM)
    hf_env.parse(lines, facts, hf_env.detect(lines))
    for detect, parse in _PIP_PARSERS:
        if detect(lines):
            parse(lines, facts)
    tracebacks.parse(flat, lines, facts)
    error_facts.parse(lines, facts)
    if not facts.anything:
        tracebacks.keep_error_lines(lines, facts)
    return facts


def parse_dump(text: str, name: str) -> Snapshot:
    """A Snapshot (meta.source = "dump") of what ``text`` states.

    Any text with an error in it is accepted (an unknown error is still a finding of errors.known);
    UsageError only when the text states nothing recognisable and holds no error at all.
    """
    facts = parse_facts(text)
    if not facts.anything:
        raise UsageError(f"{name}: nothing recognisable (expected an llmdoctor snapshot, or the output of "
                         f"collect_env, nvidia-smi, pip list, an env report or an error message; no error text found either)")
    from datetime import datetime, timezone

    from .. import __version__

    return facts.to_snapshot(name, __version__, datetime.now(timezone.utc).isoformat(timespec="seconds"))
