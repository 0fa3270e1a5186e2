"""llmdoctor fix: list the fixes that apply to the current findings; ``fix ID`` produces one.

Each fix is a subcommand (one module each, registered in ``_register``).  Fixes print to stdout by
default; ``-o FILE`` writes through ``fixes.writer.write_artifact`` (atomic, no clobber without --force).
"""

from __future__ import annotations

from typing import Optional

import typer
from typer.core import TyperGroup

from ..engine import UsageError, load_registry, run_checks
from . import common


class _FixGroup(TyperGroup):
    """Unknown fix id: one clear line (exit 2) naming the fixes that exist."""

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            raise UsageError(f"unknown fix {args[0]!r} (available: {', '.join(sorted(self.commands)) or 'none'}); "
                             f"'llmdoctor fix' lists the fixes that apply here")
        return super().resolve_command(ctx, args)


fix_app = typer.Typer(
    cls=_FixGroup,
    name="fix",
    help="Produce fixes (scripts, pinned environment files) for what llmdoctor check found.",
    invoke_without_command=True,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@fix_app.callback()
def fix_list(
    ctx: typer.Context,
    from_: Optional[str] = typer.Option(None, "--from", help="Use a saved snapshot or dump instead of probing."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
) -> None:
    """Without a fix id: list the fixes that apply to this machine's findings."""
    if ctx.invoked_subcommand is not None:
        return
    snap = load_or_probe(from_, python, timeout)
    registry = load_registry()
    report = run_checks(snap, list(registry), registry=registry)
    wanted: dict[str, list[str]] = {}
    for result in report.checks:
        for finding in result.findings:
            if finding.fix and finding.status.value in ("fail", "warn"):
                # the command a finding gives for its fix ("llmdoctor fix pin --repair"), else the bare fix
                line = next((c for c in finding.remedy.commands if c.split()[:3] == ["llmdoctor", "fix", finding.fix]),
                            f"llmdoctor fix {finding.fix}") if finding.remedy else f"llmdoctor fix {finding.fix}"
                wanted.setdefault(line, []).append(result.id)
    available = sorted(c.name for c in _commands())
    if not wanted:
        typer.echo("No fix applies: no failing or warning finding names one.")
    for line, checks in sorted(wanted.items()):
        typer.echo(f"{line}    (for {', '.join(sorted(set(checks)))})")
    typer.echo(f"\nAvailable fixes: {', '.join(available) if available else '(none)'}")


# Shared with the other commands; fix subcommands use these two.
load_or_probe = common.load_or_probe
emit = common.emit


def _commands():
    return [info for info in fix_app.registered_commands]


def _register() -> None:
    """One line per fix subcommand."""
    from . import fix_nccl, fix_pin

    fix_app.command("nccl")(fix_nccl.fix_nccl)
    fix_app.command("pin")(fix_pin.pin)


_register()
