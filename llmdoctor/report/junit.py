"""JUnit XML: one testcase per check, one testsuite per area.

Read by GitLab (``artifacts:reports:junit``), Jenkins (junit / xunit plugins) and GitHub test
reporters.  A check whose status makes the command exit 1 (``fail``; ``warn`` too with ``--fail-on
warn``) is a ``<failure>``; a check that raised is an ``<error>``; a skipped check is ``<skipped>``;
anything else passes (warnings that do not fail the run are kept in ``<system-out>``).  The element
and attribute set is the one the Jenkins/Ant ``junit-10.xsd`` schema accepts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..results import EVIDENCE_LIMIT, CheckResult, Finding, Report, Status
from ..units import truncate
from . import RenderOptions
from .vocabulary import QUIET, finding_line, headline, remedy_text

# XML 1.0 cannot carry most control characters (verbatim error texts may hold ANSI escapes).
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _BAD_XML.sub("", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.6f}"


def finding_text(finding: Finding) -> str:
    lines = [f"[{finding.status.value}] " + finding_line(finding)]
    for key, value in finding.evidence.items():
        lines.append(f"  {key}: {truncate(str(value), EVIDENCE_LIMIT)}")
    if finding.remedy:
        lines.append(f"  fix: {remedy_text(finding)}")
    return "\n".join(lines)


def _failing(report: Report, result: CheckResult) -> bool:
    return result.status in report.failing_statuses and result.status is not Status.ERROR


def render_junit(report: Report, options: RenderOptions | None = None) -> str:
    from .text import environment_line

    areas: dict[str, list[CheckResult]] = {}
    for result in report.checks:
        areas.setdefault(result.area, []).append(result)
    root = ET.Element("testsuites", name="llmdoctor")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    hostname = getattr(getattr(report.snapshot, "host", None), "hostname", None)
    timestamp = getattr(getattr(report.snapshot, "meta", None), "created_at", None)
    for area, results in areas.items():
        suite = ET.SubElement(root, "testsuite", name=f"llmdoctor.{area}")
        counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        if area == next(iter(areas)):
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="environment", value=_clean(environment_line(report.snapshot)))
            ET.SubElement(props, "property", name="fail_on", value=report.fail_on)
            ET.SubElement(props, "property", name="config", value=_clean(report.config_file or "none"))
        for result in results:
            suite_time += result.seconds
            case = ET.SubElement(suite, "testcase", name=result.id, classname=f"llmdoctor.{area}",
                                 time=_seconds(result.seconds))
            details = _clean("\n".join(finding_text(f) for f in result.findings))
            message = _clean(headline(result))
            if result.status is Status.ERROR:
                counts["errors"] += 1
                el = ET.SubElement(case, "error", type="error", message=message)
                el.text = details
            elif _failing(report, result):
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", type=result.status.value, message=message)
                el.text = details
            elif result.status in QUIET:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=message)
            elif details:
                ET.SubElement(case, "system-out").text = details
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", str(counts["errors"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", _seconds(suite_time))
        if timestamp:
            suite.set("timestamp", timestamp)
        if hostname:
            suite.set("hostname", _clean(hostname))
        for key in totals:
            totals[key] += counts[key]
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(total_time))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
