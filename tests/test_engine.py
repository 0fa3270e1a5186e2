import pytest

from llmdoctor.engine import Context, Registry, CheckSpec, UsageError, load_registry, run_checks, select, verify
from llmdoctor.results import Status, fail, passed, skip, warn
from llmdoctor.snapshot import Snapshot

from conftest import load_scenario

BUILTIN_IDS = {"cuda.driver", "cuda.arch", "cuda.toolkit", "cudnn.version", "gpu.dtype", "gpu.visible", "torch.build"}


def _registry(*specs):
    reg = Registry()
    for spec in specs:
        reg.register(spec)
    return reg


def _spec(id, func):
    """A spec as the registry makes it: parameters and needs derived from the function's signature."""
    return verify(CheckSpec(id=id, title=id, func=func))


def test_builtin_checks_are_registered_with_explanations():
    reg = load_registry()
    assert BUILTIN_IDS <= set(reg.ids())
    for spec in reg:
        assert spec.explanation.count("\n") >= 3, f"{spec.id} needs a long explanation"
        assert "Sources:" in spec.explanation or "Source" in spec.explanation, spec.id


def test_select_by_prefix_and_ignore():
    reg = load_registry()
    chosen = [s.id for s in select(reg, ["cuda"], ["cuda.toolkit"])]
    assert chosen == ["cuda.arch", "cuda.driver"]


@pytest.mark.parametrize("pattern", ["cuda.drvier", "nosuch"])
def test_unknown_ids_are_usage_errors(pattern):
    with pytest.raises(UsageError, match="unknown check id"):
        select(load_registry(), [pattern])


def test_did_you_mean():
    with pytest.raises(UsageError, match="did you mean 'cuda.driver'"):
        select(load_registry(), ["cuda.drivr"])


def test_a_raising_check_becomes_an_error_result_and_the_report_goes_on():
    def boom():
        raise KeyError("oops")

    reg = _registry(_spec("a.boom", boom), _spec("b.fine", lambda: passed("fine")))
    report = run_checks(Snapshot(), list(reg), registry=reg)
    by_id = {c.id: c for c in report.checks}
    assert by_id["a.boom"].status is Status.ERROR
    assert "KeyError" in by_id["a.boom"].findings[0].message
    assert by_id["b.fine"].status is Status.PASS
    assert report.exit_code == 3


def test_missing_parts_skip_with_the_probe_reason():
    reg = _registry(_spec("a.needs", lambda torch: fail("never")))
    snap = load_scenario("no_gpu")
    import dataclasses
    from llmdoctor.snapshot import ProbeResult
    snap = dataclasses.replace(snap, torch=None, probes=(ProbeResult("torch", False, "torch probe timed out after 20s"),))
    result = run_checks(snap, list(reg)).checks[0]
    assert result.status is Status.UNKNOWN
    assert "timed out" in result.findings[0].message


def test_status_is_the_worst_finding_and_fail_on_warn():
    reg = _registry(_spec("a.mixed", lambda: [passed("ok"), warn("hmm"), skip("n/a")]))
    report = run_checks(Snapshot(), list(reg))
    assert report.checks[0].status is Status.WARN
    assert report.exit_code == 0
    assert run_checks(Snapshot(), list(reg), fail_on="warn").exit_code == 1


def test_duplicate_ids_are_refused_naming_both_owners():
    reg = _registry(_spec("a.same", lambda: None))
    other = CheckSpec(id="a.same", title="x", func=lambda: None, origin="plugin-x:ep")
    with pytest.raises(UsageError, match="duplicate check id 'a.same'.*builtin.*plugin-x:ep"):
        reg.register(other)


def test_bad_ids_are_refused():
    with pytest.raises(UsageError):
        _registry(_spec("NoArea", lambda: None))


def test_broken_plugin_becomes_an_error_result():
    reg = load_registry(entry_points=[("broken", "llmdoctor_no_such_plugin_module", "fake-dist")])
    assert reg.load_errors and "ModuleNotFoundError" in reg.load_errors[0][1]
    report = run_checks(Snapshot(), list(reg), registry=reg)
    errors = [c for c in report.checks if c.status is Status.ERROR]
    assert errors and "fake-dist:broken" in errors[0].findings[0].message
    assert {c.id for c in report.checks} >= BUILTIN_IDS  # built-ins still ran


def test_context_options():
    assert Context({"x": None}).option("x", 5) == 5
    assert Context({"x": 0}).option("x", 5) == 0
