"""Property tests: whatever text a finding or a GPU name holds, the CI formats stay well-formed."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import load_scenario
from llmdoctor.engine import CheckSpec, Context, run_checks
from llmdoctor.results import fail, warn
from llmdoctor.report import RenderOptions, render

SNAP = load_scenario("h100x8_healthy")
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


def report_with(message: str, subject: str, gpu_name: str):
    gpus = (dataclasses.replace(SNAP.gpus[0], name=gpu_name), *SNAP.gpus[1:])
    snap = dataclasses.replace(SNAP, gpus=gpus)
    specs = [CheckSpec("prop.fail", "t", lambda: fail(message, remedy=message, subject=subject)),
             CheckSpec("prop.warn", "t", lambda: warn(message))]
    return run_checks(snap, specs, Context())


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=TEXT, subject=TEXT, gpu_name=TEXT)
def test_formats_survive_any_text(message, subject, gpu_name):
    parser = pytest.importorskip("prometheus_client.parser")
    report = report_with(message, subject, gpu_name)

    families = {f.name: f for f in parser.text_string_to_metric_families(render(report, "prometheus", RenderOptions()))}
    names = {s.labels["gpu"]: s.labels["name"] for s in families["llmdoctor_gpu_info"].samples}
    assert names["0"] == gpu_name

    from llmdoctor.report.github import annotations

    lines = annotations(report)
    assert len(lines) == 2 and all("\n" not in line and "\r" not in line for line in lines)
    body = lines[1].split("::", 2)[2]
    assert unescape_data(body) == message

    root = ET.fromstring(render(report, "junit", RenderOptions()))
    failure = root.find(".//testcase[@name='prop.fail']/failure")
    bad = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
    assert failure is not None
    from llmdoctor.report.vocabulary import headline

    fail_result = next(r for r in report.checks if r.id == "prop.fail")
    # the message is the check's headline (the one rule every renderer uses); attributes escape CR/LF/TAB:
    # exact round trip
    assert failure.get("message") == bad.sub("", headline(fail_result))
