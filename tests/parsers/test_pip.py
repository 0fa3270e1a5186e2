"""parsers/pip.py: which listings are whole (an unlisted package is absent) and which are partial (unknown)."""

from __future__ import annotations

import pytest

from llmdoctor.parsers import parse_dump
from llmdoctor.parsers.pip import is_cut

from helpers.dumps import dump, report_for, statuses

PIP_LIST = """Package            Version
------------------ -----------
numpy              1.26.4
torch              2.2.1+cu121
"""


def _complete(text: str) -> bool | None:
    snap = parse_dump(text, "paste")
    assert snap.packages is not None
    return snap.packages.complete


def test_pip_show_is_partial():
    assert _complete(dump("pip_show_torch.txt")) is False


@pytest.mark.parametrize("name", ["pip_list.txt", "pip_freeze.txt", "conda_list.txt"])
def test_whole_listings_are_complete(name):
    assert _complete(dump(name)) is True


@pytest.mark.parametrize("cut", ["...", "…", "[truncated]", "(40 more)", "... and 12 more packages"])
def test_a_list_cut_short_is_partial(cut):
    assert _complete(PIP_LIST) is True
    assert _complete(PIP_LIST + cut + "\n") is False


def test_cut_markers_are_not_package_rows():
    assert not is_cut("torch              2.2.1+cu121")
    assert not is_cut("Requires: numpy, torch")


def test_pip_show_invents_no_missing_package():
    """issue 12 §1: pip show names only what was asked; the rest is unknown, not 'not installed'."""
    report = report_for(dump("pip_show_torch.txt"))
    st = statuses(report)
    assert report.exit_code == 0
    assert st["packages.pip-check"] == "unknown"
    assert st["packages.triton"] == "unknown"
    for result in report.checks:
        for finding in result.findings:
            assert "which is not installed" not in finding.message, (result.id, finding.message)
    pip_check = next(c for c in report.checks if c.id == "packages.pip-check")
    assert "triton" in pip_check.findings[0].message and "partial" in pip_check.findings[0].message


def test_a_whole_listing_still_reports_what_is_missing():
    text = dump("pip_show_torch.txt") + "\n" + PIP_LIST
    snap = parse_dump(text, "paste")
    assert snap.packages is not None and snap.packages.complete is True
