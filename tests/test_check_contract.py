"""The check contract: parameters are typed snapshot parts, verified at load time; settings are declared."""

from __future__ import annotations

import pytest

from llmdoctor.engine import Context, Setting, UsageError, check, run_check, verify
from llmdoctor.results import Status, passed
from llmdoctor.snapshot import Driver, Snapshot, Torch


def _spec(func):
    return verify(func.__llmdoctor_check__)


def test_needs_come_from_the_signature_and_optional_parts_are_not_needed():
    @check("demo.sig", "demo")
    def demo(torch: Torch, driver: Driver | None, ctx: Context):
        return passed("fine")

    spec = _spec(demo)
    assert spec.needs == ("torch",) and spec.params == ("torch", "driver", "ctx")


def test_a_needed_part_that_is_unknown_makes_the_check_unknown_without_calling_it():
    called = []

    @check("demo.unknown", "demo")
    def demo(torch: Torch):
        called.append(1)
        return passed("fine")

    result = run_check(_spec(demo), Snapshot(), Context())
    assert result.status is Status.UNKNOWN and not called
    assert "torch unknown" in result.findings[0].message


def test_an_unknown_parameter_is_refused_at_load_time_naming_the_check():
    @check("demo.bad", "demo")
    def demo(torchh: Torch):
        return None

    with pytest.raises(UsageError, match=r"demo\.bad.*'torchh' is not a snapshot part"):
        _spec(demo)


def test_a_parameter_typed_as_another_part_is_refused():
    @check("demo.typed", "demo")
    def demo(torch: Driver):
        return None

    with pytest.raises(UsageError, match="typed"):
        _spec(demo)


def test_settings_are_declared_and_an_undeclared_one_is_an_error_result():
    @check("demo.settings", "demo", settings={"limit": Setting(int, 3, "a limit")})
    def demo(ctx: Context):
        return passed(f"limit {ctx.setting('limit')}")

    @check("demo.undeclared", "demo")
    def sneaky(ctx: Context):
        return passed(f"{ctx.setting('limit')}")

    assert run_check(_spec(demo), Snapshot(), Context()).findings[0].message == "limit 3"
    assert run_check(_spec(demo), Snapshot(), Context({"demo.settings.limit": 7})).findings[0].message == "limit 7"
    assert run_check(_spec(sneaky), Snapshot(), Context()).status is Status.ERROR


def test_known_errors_is_an_argument_of_check():
    @check("cuda.driver", "demo", known_errors=True)
    def demo(errors: tuple[str, ...]):
        return None

    snap = Snapshot(errors=("RuntimeError: The NVIDIA driver on your system is too old (found version 11040).",))
    result = run_check(_spec(demo), snap, Context())
    assert result.status is Status.FAIL


def test_the_old_snap_ctx_form_is_refused_at_load_time_with_the_way_out():
    @check("demo.old", "demo")
    def demo(snap, ctx):
        return None

    with pytest.raises(UsageError, match=r"demo\.old.*'snap' is not a snapshot part.*take snapshot: Snapshot"):
        _spec(demo)


def test_needs_is_derived_and_cannot_be_given():
    with pytest.raises(UsageError, match="needs= is derived"):
        check("demo.needs", "demo", needs=("torch",))(lambda torch: None)


def test_checks_run_gives_the_ids_of_the_run_and_is_typed():
    from llmdoctor.engine import CheckSpec, run_checks

    seen = []

    @check("demo.run", "demo")
    def demo(checks_run: frozenset[str]):
        seen.append(checks_run)

    other = verify(CheckSpec(id="demo.other", title="other", func=lambda: None))
    run_checks(Snapshot(), [_spec(demo), other])
    run_check(_spec(demo), Snapshot(), Context())
    assert seen == [frozenset({"demo.run", "demo.other"}), frozenset({"demo.run"})]

    @check("demo.badrun", "demo")
    def wrong(checks_run: list[str]):
        return None

    with pytest.raises(UsageError, match="'checks_run' is typed"):
        _spec(wrong)
