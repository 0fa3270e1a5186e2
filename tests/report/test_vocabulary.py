"""One headline rule, one Markdown escaper, one verdict line for every renderer."""

from __future__ import annotations

from llmdoctor.report.vocabulary import headline, md_escape, verdict_line
from llmdoctor.results import Finding, Status, fail, passed, unknown, warn

from report.helpers import error_result, report_of, result


def test_headline_is_the_worst_finding_with_its_subject_and_the_rest_counted():
    r = result("gpu.x", passed("fine", subject="GPU 0"), fail("too hot", subject="GPU 1"),
               fail("GPU 2: too hot too", subject="GPU 2"))
    assert headline(r) == "GPU 1: too hot (+1 more)"


def test_a_pass_headline_states_what_was_found():
    assert headline(result("cuda.driver", passed("Driver 550.54 supports CUDA 12.4"))) == "Driver 550.54 supports CUDA 12.4"


def test_md_escape():
    assert md_escape("a | b <cu1XX>\n c") == "a \\| b &lt;cu1XX&gt; c"


def test_verdict_lines():
    ok = result("a.ok", passed("x"))
    assert verdict_line(report_of(ok)) == "OK · 1 passed"
    assert verdict_line(report_of(ok, result("b.w", warn("w")))).startswith("OK — llmdoctor explain b.w")
    assert verdict_line(report_of(ok, result("c.u", unknown("u")))).startswith("OK, but incomplete: 1 check could")
    assert verdict_line(report_of(ok, error_result("d.e"))).startswith("ERROR: d.e raised")
    assert verdict_line(report_of(ok, result("e.f", Finding(Status.FAIL, "f")), result("f.f", fail("g")))) \
        .startswith("FAILED: e.f, f.f — llmdoctor explain e.f")
    assert verdict_line(report_of()) .startswith("OK · no check selected")
