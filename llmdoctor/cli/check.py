"""llmdoctor check: probe (or read a snapshot/dump), run the checks, render, exit code."""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import Context, UsageError, load_registry, run_checks, select
from ..report import RENDERERS, RenderOptions, render
from . import common

FORMATS = ("rich", "plain", "json")
DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")


def check(
    from_: Optional[str] = typer.Option(None, "--from", help="Check a saved snapshot or a pasted dump instead of this machine ('-' = stdin)."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch and packages (path to its python)."),
    select_: Optional[list[str]] = typer.Option(None, "--select", "-s", help="Only these check ids or prefixes (repeat or comma-separate)."),
    ignore: Optional[list[str]] = typer.Option(None, "--ignore", "-i", help="Skip these check ids or prefixes."),
    fail_on: str = typer.Option("fail", "--fail-on", help="Exit 1 on 'fail' (default) or also on 'warn'."),
    json_: bool = typer.Option(False, "--json", help="Print the JSON report (same as --format json)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="rich | plain | json (default: rich on a terminal, plain otherwise)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show evidence for every check, passing ones too."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="The dtype the job will use (bf16, fp8, ...): gpu.dtype fails on GPUs without it."),
    model: Optional[str] = typer.Option(None, "--model", help="Model dir / config.json / cached repo id: adds the memory.fit verdict."),
    seq_len: int = typer.Option(4096, "--seq-len", help="With --model: tokens per sequence."),
    batch: int = typer.Option(1, "--batch", help="With --model: sequences at once."),
    mode: str = typer.Option("inference", "--mode", help="With --model: inference | lora | qlora | full."),
) -> None:
    """Examine this machine (or a snapshot) and report a verdict per check."""
    if fail_on not in ("fail", "warn"):
        raise UsageError(f"--fail-on {fail_on!r}: use 'fail' or 'warn'")
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
    registry = load_registry()
    specs = select(registry, common.split_patterns(select_), common.split_patterns(ignore))
    if from_ is not None:
        if python is not None:
            raise UsageError("--from and --python cannot be combined: a snapshot is not probed")
        from ..inputs import load_snapshot

        snap = load_snapshot(from_)
    else:
        snap = common.probe_with_spinner(common.validate_python(python), common.validate_timeout(timeout))
    options = {"dtype": dtype.lower() if dtype else None}
    if model is not None:
        from ..models import load_model_spec
        from .fit import options_from_cli

        fit_dtype = dtype.lower() if dtype and dtype.lower() in ("bf16", "fp16", "fp32", "fp8", "int8") else "bf16"
        options["memory.fit.options"] = options_from_cli(fit_dtype, "bnb" if fit_dtype == "int8" else None, seq_len,
                                                         batch, mode, "adam", True, None, 1, 16, "sdpa")
        options["memory.fit.model"] = load_model_spec(model)
    ctx = Context(options=options)
    report = run_checks(snap, specs, ctx, registry=registry, fail_on=fail_on)
    options = RenderOptions(verbose=verbose, color=fmt == "rich" and common.color_wanted(),
                            width=common.terminal_width(), unicode=common.unicode_ok())
    typer.echo(render(report, fmt, options), nl=False)
    raise typer.Exit(report.exit_code)
