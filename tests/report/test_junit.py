"""JUnit: with --fail-on unknown a check that could not decide is a failure, not a skip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from llmdoctor.report.junit import render_junit
from llmdoctor.results import passed, unknown

from report.helpers import report_of, result


def test_unknown_is_skipped_or_failed_as_fail_on_says():
    checks = (result("gpu.count", unknown("NVML could not be read: driver not loaded")), result("a.ok", passed("x")))
    default = ET.fromstring(render_junit(report_of(*checks)))
    assert default.find(".//testcase[@name='gpu.count']/skipped") is not None
    strict = ET.fromstring(render_junit(report_of(*checks, fail_on="unknown")))
    failure = strict.find(".//testcase[@name='gpu.count']/failure")
    assert failure is not None and failure.get("message") == "NVML could not be read: driver not loaded"
    assert strict.get("failures") == "1"
