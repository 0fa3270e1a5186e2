"""Hostile text in a snapshot (GPU names, env values, messages) cannot inject terminal escapes or
GitHub workflow commands into any human or CI format."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import load_scenario
from llmdoctor.engine import CheckSpec, Context, run_checks
from llmdoctor.report import RenderOptions, render
from llmdoctor.report.github import render_github_summary
from llmdoctor.results import fail
from llmdoctor.sanitize import clean_text

HOSTILE = ("H100\n::error title=pwned::owned\n::add-mask::x\n::stop-commands::tok\r\n"
           "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \x1b[2J\x1b[31mred\x9b31m \u202eevil\x07\x00")
SNAP = load_scenario("h100x8_healthy")


def _report():
    gpus = (dataclasses.replace(SNAP.gpus[0], name=HOSTILE), *SNAP.gpus[1:])
    snap = dataclasses.replace(SNAP, gpus=gpus)
    specs = [CheckSpec("x.fail", "t", lambda: fail(HOSTILE, remedy=HOSTILE, subject="GPU 0"))]
    return run_checks(snap, specs, Context())


def _no_raw_controls(out: str) -> None:
    for ch in ("\x1b", "\x9b", "\x07", "\x00", "\r", "\u202e"):
        assert ch not in out, repr(ch)


@pytest.mark.parametrize("fmt", ["plain", "markdown", "github"])
def test_human_and_ci_formats_carry_no_control_character(fmt: str) -> None:
    out = render(_report(), fmt, RenderOptions(color=False))
    _no_raw_controls(out)
    assert "\\x1b" in out  # shown, not dropped: the text stays diagnosable


def test_rich_keeps_only_its_own_colours() -> None:
    out = render(_report(), "rich", RenderOptions(color=True))
    assert "\x1b]8;;https://evil" not in out and "\x1b[2J" not in out and "\x9b" not in out


def test_github_output_has_only_our_workflow_commands() -> None:
    out = render(_report(), "github", RenderOptions())
    commands = [line for line in out.splitlines() if line.lstrip().startswith("::")]
    assert commands and all(line.startswith("::error title=llmdoctor x.fail") for line in commands)
    summary = render_github_summary(_report())
    _no_raw_controls(summary)
    assert not [line for line in summary.splitlines() if line.lstrip().startswith("::")]


def test_clean_text_keeps_ordinary_text() -> None:
    text = "NVIDIA H100 80GB HBM3\n\tdriver 550.54 — ok: 12.4 ≥ 12.1 ::inline is fine"
    assert clean_text(text) == text
