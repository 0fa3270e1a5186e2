"""llmdoctor check: probe (or read a snapshot/dump), run the checks, render, exit code."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..engine import Context, UsageError, load_registry, run_checks, select
from ..report import RENDERERS, RenderOptions, render
from . import common

FORMATS = ("rich", "plain", "json", "markdown", "junit", "github", "prometheus")
# Formats whose file a timer rewrites: -o replaces it without --force and keeps no .bak.
REWRITTEN_FORMATS = ("prometheus",)
DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")


def check(
    from_: Optional[str] = typer.Option(None, "--from", help="Check a saved snapshot or a pasted dump instead of this machine ('-' = stdin)."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch and packages (path to its python)."),
    select_: Optional[list[str]] = typer.Option(None, "--select", "-s", help="Only these check ids or prefixes (repeat or comma-separate).",
                                             autocompletion=common.complete_check_ids),
    ignore: Optional[list[str]] = typer.Option(None, "--ignore", "-i", help="Skip these check ids or prefixes.",
                                            autocompletion=common.complete_check_ids),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 on 'fail' (default), also on 'warn', or also on 'unknown' (a check that could not run)."),
    json_: bool = typer.Option(False, "--json", help="Print the JSON report (same as --format json)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="rich | plain | json | markdown | junit | github | prometheus (default: rich on a terminal, plain otherwise).",
                                       autocompletion=lambda incomplete: [f for f in RENDERERS if f.startswith(incomplete)]),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to FILE (atomically) instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists (the old one is kept as FILE.bak); prometheus files are always replaced."),
    config_file: Optional[str] = typer.Option(None, "--config", help="Read this configuration file instead of searching for llmdoctor.toml / pyproject.toml."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show evidence for every check, passing ones too."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="The dtype the job will use (bf16, fp8, ...): gpu.dtype fails on GPUs without it."),
    debug_ok: bool = typer.Option(False, "--debug-ok", help="Accept verbose NCCL debug logging (NCCL_DEBUG=INFO/TRACE) while debugging."),
    model: Optional[str] = typer.Option(None, "--model", help="Model dir / config.json / cached repo id: adds the memory.fit verdict."),
    seq_len: int = typer.Option(4096, "--seq-len", help="With --model: tokens per sequence."),
    batch: int = typer.Option(1, "--batch", help="With --model: sequences at once."),
    mode: str = typer.Option("inference", "--mode", help="With --model: inference | lora | qlora | full."),
    anonymize: bool = typer.Option(False, "--anonymize", help="Replace host names, user names in paths and GPU UUIDs in the output."),
) -> None:
    """Examine this machine (or a snapshot) and report a verdict per check."""
    if fail_on is not None:
        from ..results import FAIL_ON

        if fail_on.lower() not in FAIL_ON:
            raise UsageError(f"--fail-on {fail_on!r}: use {', '.join(repr(v) for v in FAIL_ON)}")
        fail_on = fail_on.lower()
    if json_:
        if fmt not in (None, "json"):
            raise UsageError("--json and --format disagree")
        fmt = "json"
    if fmt is None:
        fmt = "rich" if common.stdout_is_terminal() else "plain"
    if fmt not in RENDERERS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(sorted(RENDERERS))}")
    if dtype is not None and dtype.lower() not in DTYPES:
        raise UsageError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if fmt in ("rich", "plain"):
        from ..report import text as _warm  # noqa: F401  (import the renderer while torch is being probed)
    registry = load_registry()
    from ..config import load_config, prune_unconfigured_expectations

    config = load_config(config_file, registry).override(common.split_patterns(select_),
                                                          common.split_patterns(ignore), fail_on)
    specs = select(registry, config.select.value, config.ignore.value)
    specs = prune_unconfigured_expectations(specs, config, config.select.value)
    fit_options = {}
    if model is not None:  # read the model before probing: bad input fails fast
        from ..model_config import load_model_spec
        from .fit import options_from_cli

        fit_dtype = dtype.lower() if dtype and dtype.lower() in ("bf16", "fp16", "fp32", "fp8", "int8") else "bf16"
        fit_options["memory.fit.options"] = options_from_cli(fit_dtype, "bnb" if fit_dtype == "int8" else None, seq_len,
                                                             batch, mode, "adam", True, None, 1, 16, "sdpa")
        fit_options["memory.fit.model"] = load_model_spec(model)
    snap = common.load_or_probe(from_, python, timeout)
    cli_options = {"dtype": dtype.lower() if dtype else None,
                   "nccl.perf-switches.debug_ok": True if debug_ok else None, **fit_options}
    # the command line wins over the configuration file, where it says something
    ctx = Context(options={**config.options(), **{k: v for k, v in cli_options.items() if v is not None}})
    report = run_checks(snap, specs, ctx, registry=registry, fail_on=config.fail_on.value)
    to_file = output is not None and output != "-"
    options = RenderOptions(verbose=verbose, color=fmt == "rich" and not to_file and common.color_wanted(),
                            width=common.terminal_width(), unicode=common.unicode_ok() or to_file)
    text = render(report, fmt, options)
    if anonymize:
        from ..anonymize import anonymize_for

        text = anonymize_for(snap)(text)
    if to_file:
        common.write_output(output, text, force=force or fmt in REWRITTEN_FORMATS,
                            backup=fmt not in REWRITTEN_FORMATS)
    else:
        # not typer.echo: it strips colour codes whenever stdout is not a terminal, even with FORCE_COLOR
        sys.stdout.write(text)
        sys.stdout.flush()
    if fmt == "github":
        common.append_step_summary(report)
    raise typer.Exit(report.exit_code)
