"""The knowledge base (data/error_patterns.json + data/error_kb.json): every entry is well formed, sourced,
recognises the verbatim public text it cites, has a unique stable code, and belongs to a check that exists;
its check (or errors.known) reports it; the OOM fragmentation rule decides from the message's own figures."""

from __future__ import annotations

import dataclasses
import re

import pytest

from conftest import load_scenario
from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.facts import known_errors
from llmdoctor.snapshot import Snapshot

ENTRIES = known_errors.table()
ROWS = known_errors.rows()
CODE = re.compile(r"^LD-(?:CUDA|GPU|MIG|ARCH|DTYPE|TORCH|TK|CUDNN|PKG|MEM|NCCL|TOPO|DIST|HW|ERR)-\d{3}$")
SOURCE = re.compile(r"^(?:[\w.-]+/[\w.-]+#\d+|https?://\S+)$")
CHECK_IDS = set(load_registry().ids())


def test_the_knowledge_base_has_at_least_250_entries():
    assert len(ENTRIES) >= 250


def test_codes_are_unique_and_stable_in_form():
    codes = [e.code for e in ENTRIES]
    assert len(codes) == len(set(codes))
    assert all(CODE.match(c) for c in codes), [c for c in codes if not CODE.match(c)]
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("err", ENTRIES, ids=lambda e: e.code)
def test_entry_is_well_formed_and_publicly_sourced(err):
    assert err.severity in ("fail", "warn")
    assert err.check in CHECK_IDS, f"{err.code}: no check {err.check}"
    assert err.cause and err.fix and err.commands
    assert err.public_sources and all(SOURCE.match(s) for s in err.public_sources), err.public_sources
    assert err.fixtures, f"{err.code} has no verbatim fixture"
    for source, _text in err.fixtures:
        assert source in err.public_sources


@pytest.mark.parametrize("err", ENTRIES, ids=lambda e: e.code)
def test_every_fixture_is_recognised_as_its_entry(err):
    for source, text in err.fixtures:
        codes = [m.error.code for m in known_errors.recognise([text])]
        assert err.code in codes, (source, text[:120])


@pytest.mark.parametrize("err", ENTRIES, ids=lambda e: e.code)
def test_needle_prefilter_finds_the_fixture_in_a_long_log(err):
    _source, fixture = err.fixtures[0]
    text = "noise line\n" * 3000 + fixture + "\n" + "more noise\n" * 3000
    spans = known_errors.find_in(text)
    flat = [known_errors.flatten(text[a:b]) for a, b in spans]
    assert any(m.error.code == err.code for m in known_errors.recognise(flat))


def _error_only(base: Snapshot, text: str) -> Snapshot:
    return dataclasses.replace(base, errors=(known_errors.flatten(text),))


@pytest.mark.parametrize("err", [e for e in ENTRIES if e.check != "errors.known"], ids=lambda e: e.code)
def test_the_error_is_reported_by_its_check_or_by_errors_known(err):
    snap = _error_only(load_scenario("h100x8_healthy"), err.fixtures[0][1])
    registry = load_registry()
    results = [run_check(registry.get(err.check), snap, Context()), run_check(registry.get("errors.known"), snap, Context())]
    probe = known_errors.flatten(err.fixtures[0][1])[:40]

    def names_it(f):
        texts = [v for v in f.evidence.values() if isinstance(v, str)] + [str(x) for x in f.evidence.get("errors_seen", ())]
        return f.evidence.get("known_error") == err.code or any(probe in " ".join(t.split()) for t in texts)

    hits = [f for r in results for f in r.findings if f.status.value in ("warn", "fail") and names_it(f)]
    assert hits, f"{err.code} is not reported"


def test_codes_replace_internal_ids_in_findings():
    snap = _error_only(load_scenario("h100x8_healthy"), "Error 802: system not yet initialized")
    result = run_check(load_registry().get("gpu.visible"), snap, Context())
    texts = " ".join(f.message + str(f.evidence) for f in result.findings)
    assert "LD-GPU-002" in texts and "A6" not in re.findall(r"\bA\d\b", texts)
    assert not any("shared/" in s for f in result.findings for s in f.evidence.get("sources", ()))


def test_found_version_alone_is_recognised_with_its_meaning():
    m = known_errors.recognise(["found version 11040"])[0]
    assert m.error.code == "LD-CUDA-001" and m.detail == "the driver supports CUDA ≤ 11.4"


# -- the OOM fragmentation rule -------------------------------------------------------------------
_ROW_H5 = next(r for r in ROWS if r.get("id") == "H5")


def test_expandable_segments_advice_when_reserved_but_unallocated_share_says_fragmentation():
    text = _ROW_H5["fixtures"][0]["text"]  # 40.69 GiB reserved-unallocated, 35.60 GiB requested
    codes = [m.error.code for m in known_errors.recognise([text])]
    assert "LD-MEM-005" in codes and "LD-MEM-001" in codes
    oom = next(m for m in known_errors.recognise([text]) if m.error.code == "LD-MEM-001")
    assert "fragmentation is the likely cause" in oom.detail


@pytest.mark.parametrize("row", _ROW_H5["counter_fixtures"], ids=lambda r: r["source"])
def test_no_expandable_segments_advice_when_the_figures_say_otherwise(row):
    matches = known_errors.recognise([row["text"]])
    codes = [m.error.code for m in matches]
    assert "LD-MEM-001" in codes and "LD-MEM-005" not in codes
    oom = next(m for m in matches if m.error.code == "LD-MEM-001")
    assert "not fragmentation" in oom.detail
    assert "expandable_segments:True" not in " ".join(oom.error.commands)


def test_oom_figures_read_zero_bytes():
    oom = known_errors.oom_figures("CUDA out of memory. Tried to allocate 2.00 MiB. GPU 0 has a total capacity of "
                                   "8.00 GiB of which 0 bytes is free. Of the allocated memory 7.00 GiB is allocated "
                                   "by PyTorch, and 0 bytes is reserved by PyTorch but unallocated.")
    assert oom == {"tried": 2 * 2**20, "free": 0, "unallocated": 0, "reserved": None, "allocated": 7 * 2**30}
    assert not known_errors.fragmented(oom)


def test_docs_have_a_page_per_code():
    from pathlib import Path

    from llmdoctor import docsgen

    root = Path(__file__).resolve().parents[2]
    assert [p for p in docsgen.drift(root) if "/errors/" in p] == [], "run: python -m llmdoctor.docsgen"
    assert {p.stem for p in (root / "docs" / "errors").glob("LD-*.md")} == {e.code for e in ENTRIES}


def test_a_text_compiles_only_the_patterns_whose_literals_it_contains():
    """A warm run with one torch warning must not compile the whole table (hundreds of regexes)."""
    known_errors.table.cache_clear()
    try:
        known_errors.recognise(["Failed to initialize NumPy: No module named 'numpy'"])
        compiled = [e.code for e in known_errors.table() if "regexes" in vars(e)]
        assert 0 < len(compiled) < 10, compiled
    finally:
        known_errors.table.cache_clear()


@pytest.mark.parametrize("pattern, needles", [
    (r"CUDA error: out of memory", ("cuda error: out of memory",)),
    (r"no kernel image is available|invalid device function", ("no kernel image is available", "invalid device function")),
    (r"(?:NCCL|nccl) error: unhandled (system|cuda) error", (" error: unhandled ",)),
    (r"libcudnn\.so\.\d+: cannot open", (": cannot open",)),
    (r"expected (a|b)|[]|x] wrongly", ("expected ", " wrongly")),  # the | inside a class does not split
    (r"errors?: too old", (": too old",)),  # the quantified 's' may be absent
    (r"\d+ GiB", None),
])
def test_needles_are_literals_every_match_contains(pattern, needles):
    assert known_errors.needles_of(pattern) == needles


def test_every_entry_belongs_to_a_check_that_reports_known_errors():
    """The engine merges a recognised error only into a check declared with known_errors=True: an entry
    owned by any other check would be reported by nobody."""
    opted = {spec.id for spec in load_registry() if spec.known_errors}
    assert {e.check for e in ENTRIES} <= opted, sorted({e.check for e in ENTRIES} - opted)


def test_a_check_that_does_not_opt_in_gets_no_known_error_findings():
    import dataclasses as dc

    err = next(e for e in ENTRIES if e.check == "cuda.driver")
    snap = _error_only(load_scenario("h100x8_healthy"), err.fixtures[0][1])
    spec = load_registry().get("cuda.driver")
    with_errors = run_check(spec, snap, Context(), ["cuda.driver"])
    without = run_check(dc.replace(spec, known_errors=False), snap, Context(), ["cuda.driver"])
    assert any(err.code in f.message or err.code in str(f.evidence) for f in with_errors.findings)
    assert not any(err.code in f.message or err.code in str(f.evidence) for f in without.findings)
