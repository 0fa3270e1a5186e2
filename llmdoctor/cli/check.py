"""llmdoctor check: probe (or read a snapshot/dump), run the checks, render, exit code.

The check inputs (``--dtype``, ``--model``, ...) are not parameters of :func:`check`: they are the flags
the registered checks declare (``cli/check_inputs.py``), added to this command when it is built.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from ..engine import Context, UsageError, load_registry, run_checks, select
from ..report import RENDERERS, RenderOptions, render
from . import check_inputs, common, options

# Formats whose file a timer rewrites: -o replaces it without --force and keeps no .bak.
REWRITTEN_FORMATS = ("prometheus",)
INPUTS_META = "llmdoctor.check_inputs"


def _flags() -> dict[str, check_inputs.Flag]:
    return check_inputs.declared_flags(load_registry())


class CheckCommand(TyperCommand):
    """``check`` plus one option per flag the registered checks declare; unknown flags get a real suggestion."""

    def get_params(self, ctx: Any) -> list[Any]:
        base = super().get_params(ctx)
        help_option = [p for p in base if p.name == "help"]
        return [p for p in base if p.name != "help"] + [check_inputs.click_option(f) for f in _flags().values()] \
            + help_option

    def invoke(self, ctx: Any) -> Any:
        flags = _flags()
        inputs = {f.dest: ctx.params.pop(f.dest, None) for f in flags.values()}
        ctx.meta[INPUTS_META] = (flags, inputs)
        return super().invoke(ctx)


Select = Annotated[Optional[list[str]], typer.Option("--select", "-s", metavar="IDS", autocompletion=common.complete_check_ids,
                                                     help="Only these check ids or prefixes (repeat or comma-separate).")]
Ignore = Annotated[Optional[list[str]], typer.Option("--ignore", "-i", metavar="IDS", autocompletion=common.complete_check_ids,
                                                     help="Skip these check ids or prefixes.")]
FailOn = Annotated[Optional[str], typer.Option("--fail-on", metavar="LEVEL",
                                               help="Exit 1 on 'fail' (default), also on 'warn', or also on 'unknown' "
                                                    "(a check that could not run).")]
Format = Annotated[Optional[str], options.format_option(tuple(RENDERERS), "rich | plain | json | markdown | junit | github | "
                                                        "prometheus (default: rich on a terminal or with FORCE_COLOR, plain otherwise).")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True,
                                      help="-v: every check with what it found; -vv: every finding with its full evidence.")]


def check(ctx: typer.Context, from_: options.From = None, python: options.Python = None, select_: Select = None,
          ignore: Ignore = None, fail_on: FailOn = None, json_: options.Json = False, fmt: Format = None,
          output: options.Output = None, force: options.Force = False, config_file: options.ConfigFile = None,
          verbose: Verbose = 0, timeout: options.Timeout = None, anonymize: options.Anonymize = False,
          refresh: options.Refresh = False, no_cache: options.NoCache = False) -> None:
    """Examine this machine (or a snapshot) and report a verdict per check."""
    fmt = _format(fmt, json_)
    fail_on = _fail_on(fail_on)
    flags, raw = ctx.meta.get(INPUTS_META, ({}, {}))
    given = check_inputs.values(flags, raw)
    if fmt in ("rich", "plain"):
        from ..report import text as _warm  # noqa: F401  (import the renderer while torch is being probed)
    registry = load_registry()
    from ..config import load_config, prune_unconfigured_expectations, require_some

    config = load_config(config_file, registry).override(common.split_patterns(select_),
                                                          common.split_patterns(ignore), fail_on)
    specs = prune_unconfigured_expectations(select(registry, config.select.value, config.ignore.value), config,
                                            config.select.value)
    require_some(specs, config)
    to_file = output is not None and output != "-"
    if to_file:
        common.refuse_existing(output, force or fmt in REWRITTEN_FORMATS)
    from ..inputs import validate_inputs, with_input_probes

    validate_inputs(given)  # a check input naming a missing file is bad usage before anything runs (--python too)
    snap = common.load_or_probe(from_, python, timeout, given, options.cache_mode(refresh, no_cache))
    snap = with_input_probes(snap, given)
    # the command line wins over the configuration file, where it says something
    run_ctx = Context(options={**config.options(), **given})
    report = run_checks(snap, specs, run_ctx, registry=registry, fail_on=config.fail_on.value)
    report = dataclasses.replace(report, config_file=str(config.path) if config.path else None)
    render_options = RenderOptions(verbosity=verbose, color=fmt == "rich" and not to_file and common.color_wanted(),
                                   width=common.terminal_width(), unicode=common.unicode_ok() or to_file)
    text = render(report, fmt, render_options)
    if anonymize:
        from ..anonymize import anonymize_for

        text = anonymize_for(snap)(text)
    if to_file:
        assert output is not None
        common.write_output(output, text, force=force or fmt in REWRITTEN_FORMATS, backup=fmt not in REWRITTEN_FORMATS)
    else:
        # not typer.echo: it strips colour codes whenever stdout is not a terminal, even with FORCE_COLOR
        sys.stdout.write(text)
        sys.stdout.flush()
    if fmt == "github":
        common.append_step_summary(report)
    raise typer.Exit(report.exit_code)


def _format(fmt: Optional[str], json_: bool) -> str:
    if json_:
        if fmt not in (None, "json"):
            raise UsageError("--json and --format disagree")
        return "json"
    if fmt is None:
        return "rich" if common.stdout_is_terminal() or common.color_forced() else "plain"
    if fmt.lower() not in RENDERERS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(sorted(RENDERERS))}")
    return fmt.lower()


def _fail_on(value: Optional[str]) -> Optional[str]:
    from ..results import FAIL_ON  # the one vocabulary (the report's, the configuration file's)

    if value is None:
        return None
    if value.lower() not in FAIL_ON:
        raise UsageError(f"--fail-on {value!r}: use {', '.join(repr(v) for v in FAIL_ON)}")
    return value.lower()
