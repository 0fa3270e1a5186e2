"""junit, github and prometheus output: validated by the formats' own readers, through the real CLI."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import DATA, SCENARIOS, load_scenario, run_cli
from llmdoctor.engine import CheckSpec, Context, load_registry, run_checks
from llmdoctor.results import Finding, Status, fail, passed, warn
from llmdoctor.report import RenderOptions, render

SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json"))
OPTS = RenderOptions()


def report_for(name: str, fail_on: str = "fail"):
    registry = load_registry()
    return run_checks(load_scenario(name), list(registry), Context(), registry=registry, fail_on=fail_on)


def spec(check_id: str, func) -> CheckSpec:
    return CheckSpec(id=check_id, title=f"title of {check_id}", func=func)


def synthetic_report(fail_on: str = "fail"):
    """One check per status, one of them raising, with awkward characters in messages."""
    def boom():
        raise RuntimeError("kaput")

    specs = [
        spec("demo.pass", lambda: passed("all good")),
        spec("demo.warn", lambda: warn('a "quoted" warning, with: colons\nand a second line 100%')),
        spec("demo.fail", lambda: fail("broken \x1b[31mred\x1b[0m <tag> & more", {"k": "v"}, remedy="do X")),
        spec("demo.skip", lambda: Finding(Status.UNKNOWN, "not applicable")),
        spec("demo.error", boom),
    ]
    return run_checks(load_scenario("h100x8_healthy"), specs, Context(), fail_on=fail_on)


# --------------------------------------------------------------------------- junit


@pytest.fixture(scope="module")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(DATA / "junit" / "junit-10.xsd"))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_junit_is_valid_for_every_scenario(name, junit_schema):
    report = report_for(name)
    text = render(report, "junit", OPTS)
    junit_schema.validate(text)
    root = ET.fromstring(text)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [r.id for r in report.checks]
    assert int(root.get("failures")) == sum(r.status is Status.FAIL for r in report.checks)
    assert int(root.get("tests")) == len(report.checks)


def test_junit_maps_statuses(junit_schema):
    text = render(synthetic_report(), "junit", OPTS)
    junit_schema.validate(text)
    cases = {c.get("name"): c for c in ET.fromstring(text).iter("testcase")}
    assert cases["demo.fail"].find("failure") is not None
    assert "do X" in cases["demo.fail"].find("failure").text
    assert "\x1b" not in text  # control characters are not valid XML 1.0
    assert cases["demo.error"].find("error") is not None
    assert "kaput" in cases["demo.error"].find("error").get("message")
    assert cases["demo.skip"].find("skipped") is not None
    assert cases["demo.warn"].find("failure") is None  # a warning fails only with fail-on warn
    assert cases["demo.pass"].find("failure") is None and cases["demo.pass"].find("skipped") is None
    suite = ET.fromstring(text).find("testsuite")
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "1")


def test_junit_fail_on_warn_makes_warnings_failures(junit_schema):
    text = render(synthetic_report("warn"), "junit", OPTS)
    junit_schema.validate(text)
    cases = {c.get("name"): c for c in ET.fromstring(text).iter("testcase")}
    assert cases["demo.warn"].find("failure") is not None


def test_junit_through_cli_exit_code_and_file(tmp_path, junit_schema):
    out = tmp_path / "llmdoctor.xml"
    proc = run_cli("check", "--from", str(SCENARIOS / "a100_driver470_cu121.json"), "--format", "junit", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    junit_schema.validate(str(out))
    again = run_cli("check", "--from", str(SCENARIOS / "a100_driver470_cu121.json"), "--format", "junit", "-o", str(out))
    assert again.returncode == 2 and "exists; use --force" in again.stderr
    forced = run_cli("check", "--from", str(SCENARIOS / "a100_driver470_cu121.json"), "-f", "junit", "-o", str(out), "--force")
    assert forced.returncode == 1 and (tmp_path / "llmdoctor.xml.bak").exists()


# --------------------------------------------------------------------------- github


def test_github_annotations_escape_and_levels():
    from llmdoctor.report.github import annotations

    lines = annotations(synthetic_report())
    by_check = {line.split("title=llmdoctor ", 1)[1].split("%3A", 1)[0]: line for line in lines}
    assert set(by_check) == {"demo.warn", "demo.fail", "demo.error"}
    assert by_check["demo.fail"].startswith("::error title=")
    assert by_check["demo.error"].startswith("::error title=")
    assert by_check["demo.warn"].startswith("::warning title=")
    warn_line = by_check["demo.warn"]
    assert "\n" not in warn_line and "%0Aand a second line 100%25" in warn_line
    title = warn_line.split("::", 2)[1]
    assert ":" not in title.split("=", 1)[1] and "," not in title
    assert "%0AFix: do X" in by_check["demo.fail"]


def test_github_format_prints_report_and_appends_job_summary(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    args = ("check", "--from", str(SCENARIOS / "a100_driver470_cu121.json"), "--format", "github")
    proc = run_cli(*args, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    assert "cuda.driver" in proc.stdout  # the readable report for the log
    assert any(line.startswith("::error title=llmdoctor cuda.driver") for line in proc.stdout.splitlines())
    text = summary.read_text()
    assert text.startswith("# earlier step\n")  # appended, never truncated
    assert "## llmdoctor: ❌ FAILED" in text and "| ❌ | `cuda.driver` |" in text
    run_cli(*args, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text().count("## llmdoctor:") == 2


def test_github_summary_not_written_without_variable(tmp_path):
    proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "--format", "github",
                   env={"GITHUB_STEP_SUMMARY": ""}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- prometheus


def parse_prom(text: str) -> dict[str, list]:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {}
    for family in parser.text_string_to_metric_families(text):
        families[family.name] = family.samples
    return families


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_prometheus_parses_for_every_scenario(name):
    report = report_for(name)
    families = parse_prom(render(report, "prometheus", OPTS))
    status = {s.labels["check"]: s.value for s in families["llmdoctor_check_status"]}
    expected = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3, Status.UNKNOWN: -1, Status.NOT_APPLICABLE: -2}
    assert status == {r.id: expected[r.status] for r in report.checks}
    assert families["llmdoctor_ok"][0].value == (0 if report.failed else 1)
    gpus = report.snapshot.gpus or ()
    info = families.get("llmdoctor_gpu_info", [])
    assert len(info) == len(gpus)
    used = {s.labels["gpu"]: s.value for s in families.get("llmdoctor_gpu_memory_used_bytes", [])}
    assert used == {str(g.index): g.memory_used for g in gpus if g.memory_used is not None}


def test_prometheus_gpu_health_and_label_escaping():
    snap = load_scenario("v100_fp16_only")
    odd = dataclasses.replace(snap.gpus[0], name='Tesla "V100"\\weird\nname')
    snap = dataclasses.replace(snap, gpus=(odd, *snap.gpus[1:]))
    registry = load_registry()
    report = run_checks(snap, list(registry), Context(), registry=registry)
    families = parse_prom(render(report, "prometheus", OPTS))
    info = {s.labels["gpu"]: s.labels["name"] for s in families["llmdoctor_gpu_info"]}
    assert info["0"] == 'Tesla "V100"\\weird\nname'
    health = {s.labels["gpu"]: s.value for s in families["llmdoctor_gpu_health"]}
    # gpu.dtype warns about every V100 (no bf16): the per-GPU health carries it
    assert health["0"] >= 1


def test_prometheus_timestamp_is_the_snapshot_time():
    report = report_for("h100x8_healthy")
    families = parse_prom(render(report, "prometheus", OPTS))
    import datetime

    created = datetime.datetime.fromisoformat(report.snapshot.meta.created_at)
    assert families["llmdoctor_last_run_timestamp_seconds"][0].value == created.timestamp()


def test_prometheus_output_file_is_replaced_by_a_timer(tmp_path):
    out = tmp_path / "llmdoctor.prom"
    out.write_text("stale\n")
    for _ in range(2):
        proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "-f", "prometheus", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
    assert "llmdoctor_check_status" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llmdoctor.prom"]  # no .bak, no temp files
    parse_prom(out.read_text())


def test_output_into_missing_folder_is_usage_error(tmp_path):
    proc = run_cli("check", "--from", str(SCENARIOS / "no_gpu.json"), "-f", "prometheus",
                   "-o", str(tmp_path / "nope" / "x.prom"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("llmdoctor: error:") and len(proc.stderr.strip().splitlines()) == 1


def test_unknown_format_lists_choices():
    proc = run_cli("check", "--from", str(SCENARIOS / "no_gpu.json"), "--format", "yaml")
    assert proc.returncode == 2
    for name in ("junit", "github", "prometheus"):
        assert name in proc.stderr


def test_unwritable_job_summary_is_a_warning_not_a_verdict(tmp_path):
    proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "--format", "github",
                   env={"GITHUB_STEP_SUMMARY": str(tmp_path)})  # a directory
    assert proc.returncode == 0
    assert proc.stderr.startswith("llmdoctor: warning: job summary not written")
