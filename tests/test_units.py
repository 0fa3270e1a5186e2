"""The one byte formatter (as diff uses it), the duration formatter, and word-boundary truncation."""

from __future__ import annotations

import pytest

from llmdoctor.units import fmt_seconds, format_bytes, truncate


@pytest.mark.parametrize("n, text", [(1007 * 2**30, "1007 GiB"), (64 * 2**20, "64 MiB"), (1023, "1023 B"),
                                     (None, "?"), (85520809984, "79.6 GiB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize("n, kw, text", [
    (20 * 2**20, {"decimals": 2}, "20.00 MiB"),            # as PyTorch's out-of-memory message writes it
    (int(40.69 * 2**30), {"decimals": 2}, "40.69 GiB"),
    (512, {"decimals": 2}, "512 B"),
    (2**29, {"unit": "GiB"}, "0.5 GiB"),                    # one unit for the figures a sentence compares
    (30 * 2**30, {"unit": "GiB"}, "30.0 GiB"),
    (85520809984, {"unit": "GiB", "decimals": 0}, "80 GiB"),
    (None, {"unit": "GiB"}, "?"),
])
def test_format_bytes_with_fixed_decimals_or_unit(n, kw, text):
    assert format_bytes(n, **kw) == text


def test_format_bytes_refuses_a_unit_it_does_not_write():
    with pytest.raises(ValueError, match="GB"):
        format_bytes(1, unit="GB")


@pytest.mark.parametrize("s, text", [(0.5, "0.5 s"), (20.0, "20 s"), (1.25, "1.25 s"), (2.0, "2 s")])
def test_fmt_seconds_states_the_real_budget(s, text):
    assert fmt_seconds(s) == text


def test_truncate_cuts_at_a_word_boundary():
    text = "CUDA initialization: The NVIDIA driver on your system is too old"
    cut = truncate(text, 30)
    assert len(cut) <= 30 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "  # the cut falls between words
    assert truncate(text, len(text)) == text


def test_truncate_a_single_long_word_must_be_cut_somewhere():
    assert truncate("x" * 50, 10) == "x" * 9 + "…"


def test_truncate_with_an_ascii_ellipsis():
    cut = truncate("one two three four", 12, "...")
    assert cut == "one two..." and len(cut) <= 12


def test_format_bytes_fixed_unit():
    assert format_bytes(78.8 * 2**30, unit="GiB") == "78.8 GiB"
    assert format_bytes(0.3 * 2**30, unit="GiB", suffix=False) == "0.3"
    assert format_bytes(1234.56 * 2**20, unit="MiB", decimals=0) == "1,235 MiB"
