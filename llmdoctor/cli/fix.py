"""llmdoctor fix: list the fixes the failing findings name; ``fix ID [options]`` produces one.

Generic over the fix registry (``llmdoctor.fixes.registry``): each registered fix becomes a subcommand
whose options are the fix's declared options plus the shared ``--from/--python/--timeout/-o/--force``.
The command reads (or probes) the snapshot, runs the checks once, and hands both to the fix; the
artifact goes to stdout or, with ``-o FILE``, through ``fixes.writer``.  Options given to ``fix`` itself
(``llmdoctor fix --from snap.json nccl``) reach every fix.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from ..engine import UsageError
from . import common, options

if TYPE_CHECKING:
    from ..fixes.registry import FixSpec
    from ..results import Report
    from ..snapshot import Snapshot

SOURCE_NAMES = tuple(o.param for o in options.SOURCE_OPTIONS)


class FixGroup(TyperGroup):
    """The registered fixes as subcommands, built when asked for (``llmdoctor --help`` imports none)."""

    def list_commands(self, ctx: Any) -> list[str]:
        from ..fixes.registry import load_fixes

        return sorted(load_fixes())

    def get_command(self, ctx: Any, cmd_name: str) -> Optional[TyperCommand]:
        from ..fixes.registry import load_fixes

        spec = load_fixes().get(cmd_name)
        return fix_command(spec) if spec is not None else None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            available = ", ".join(self.list_commands(ctx)) or "none"
            raise UsageError(f"unknown fix {args[0]!r} (available: {available}); "
                             f"'llmdoctor fix' lists the fixes that apply here")
        return super().resolve_command(ctx, args)


fix_app = typer.Typer(
    cls=FixGroup,
    name="fix",
    help="Produce fixes (scripts, pinned environment files) for what llmdoctor check found.",
    invoke_without_command=True,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@fix_app.callback()
def fix_list(ctx: typer.Context, from_: options.From = None, python: options.Python = None,
             timeout: options.Timeout = None) -> None:
    """Without a fix id: list the fixes that this machine's (or the snapshot's) findings name."""
    if ctx.invoked_subcommand is not None:
        return
    from ..fixes.registry import load_fixes

    report = checks_report(common.load_or_probe(from_, python, timeout))
    wanted: dict[str, set[str]] = {}
    for result in report.checks:
        for finding in result.findings:
            if finding.fix and finding.status.value in ("fail", "warn"):
                wanted.setdefault(fix_command_line(finding), set()).add(result.id)
    source = source_flags(from_, python, timeout)
    if not wanted:
        typer.echo("No fix applies: no failing or warning finding names one.")
    for line, checks in sorted(wanted.items()):
        typer.echo(f"{line}{source}    (for {', '.join(sorted(checks))})")
    typer.echo(f"\nAvailable fixes: {', '.join(load_fixes()) or '(none)'}")


def fix_command_line(finding: Any) -> str:
    """The finding's own ``llmdoctor fix ID ...`` command when its remedy gives one, else ``llmdoctor fix ID``."""
    prefix = f"llmdoctor fix {finding.fix.split()[0]}"
    for command in finding.remedy.commands if finding.remedy else ():
        if command == prefix or command.startswith(prefix + " "):
            return str(command)
    return f"llmdoctor fix {finding.fix}"


def source_flags(from_: Optional[str], python: Optional[str], timeout: Optional[float]) -> str:
    """The options that name the same input again, for a follow-up command line."""
    parts: list[str] = []
    if from_ is not None:
        parts += [options.FROM.decls[0], from_]
    if python is not None:
        parts += [options.PYTHON.decls[0], python]
    if timeout is not None and from_ is None:
        parts += [options.TIMEOUT.decls[0], f"{timeout:g}"]
    return "".join(f" {shlex.quote(p)}" for p in parts)


def checks_report(snap: "Snapshot") -> "Report":
    """Every registered check's verdict on ``snap``: what the fixes read (they never run checks)."""
    from ..engine import load_registry, run_checks

    registry = load_registry()
    return run_checks(snap, list(registry), registry=registry)


def _option_param(name: str, decl: Any) -> TyperOption:
    flag = "--" + name.replace("_", "-")
    decls = [flag, *(s for s in options.FORMAT.decls[1:] if flag == options.FORMAT.decls[0]), name]
    help_ = decl.help + (f" (default: {decl.default})" if decl.default not in (None, False, "") else "")
    if decl.type is bool:
        return TyperOption(param_decls=decls, is_flag=True, default=None, help=help_)
    kind = decl.type if decl.type in (int, float) else str
    return TyperOption(param_decls=decls, type=kind, default=None, metavar=name.upper(), help=help_)


class FixCommand(TyperCommand):
    """One registered fix as a command: its declared options, then the shared ones."""

    def __init__(self, spec: "FixSpec") -> None:
        params: list[Any] = [_option_param(name, decl) for name, decl in spec.options.items()]
        params += options.click_params(*options.SOURCE_OPTIONS, *options.ARTIFACT_OPTIONS)
        first = spec.explanation.split("\n\n", 1)[0] if spec.explanation else spec.title
        super().__init__(spec.id, params=params, help=spec.explanation or spec.title,
                         short_help=first.replace("\n", " "), rich_markup_mode=None,
                         context_settings={"help_option_names": ["-h", "--help"]})
        self.spec = spec

    def invoke(self, ctx: Any) -> None:
        run_fix_command(self.spec, options.inherit(ctx, ctx.params, SOURCE_NAMES))


def fix_command(spec: "FixSpec") -> TyperCommand:
    return FixCommand(spec)


def run_fix_command(spec: "FixSpec", params: dict[str, Any]) -> None:
    from ..fixes.registry import CannotFix, run_fix

    common.refuse_existing(params["output"], params["force"])
    chosen = {name: params.get(name) for name in spec.options}
    spec.resolve_options(chosen)  # bad option values are refused before probing
    snap = common.load_or_probe(params["from_"], params["python"], params["timeout"])
    try:
        artifact = run_fix(spec, snap, checks_report(snap), chosen)
    except CannotFix as exc:
        raise common.error(f"cannot {exc.what}: {exc}", code=1) from None
    common.emit(artifact.text, params["output"], params["force"])
