"""The ``llmdoctor`` command: wiring of the per-command modules, and the exit-code contract.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input (one line on stderr), 3 internal error.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from .. import __version__

app = typer.Typer(
    name="llmdoctor",
    help="The environment doctor for training and serving LLMs on NVIDIA GPUs.",
    no_args_is_help=False,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Printed by --version: what decides how llmdoctor behaves here (read from metadata, nothing imported).
VERSION_DEPENDENCIES = ("typer", "click", "rich", "nvidia-ml-py", "psutil", "packaging", "torch")


def version_text() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in VERSION_DEPENDENCIES:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return (f"llmdoctor {__version__}\n"
            f"Python {platform.python_version()} ({sys.executable})\n" + "\n".join(parts))


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """The environment doctor for training and serving LLMs on NVIDIA GPUs.

    Start with: llmdoctor check
    """
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def _register() -> None:
    from . import check, checks_cmd, config_cmd, env_cmd, fit, fix, memory_cmd, snapshot
    from . import diff as diff_cmd
    from . import explain_error

    app.command("check")(check.check)
    app.command("snapshot")(snapshot.snapshot)
    app.command("checks")(checks_cmd.list_checks)
    app.command("explain")(checks_cmd.explain)
    app.command("config")(config_cmd.show_config)
    app.add_typer(fix.fix_app, name="fix")
    app.command("env")(env_cmd.env)
    app.command("fit")(fit.fit)
    app.add_typer(memory_cmd.memory_app, name="memory")
    app.command("explain-error")(explain_error.explain_error)
    app.command("diff")(diff_cmd.diff)
    __import__("llmdoctor.cli.cluster", fromlist=["register"]).register(app)


_register()


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: maps every outcome to the documented exit code."""
    try:  # typer >= 0.2x vendors click; older typer re-exports click's classes
        from typer import TyperException as CliError
    except ImportError:  # pragma: no cover
        from click import ClickException as CliError

    from ..engine import UsageError

    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="llmdoctor", standalone_mode=False)
    except UsageError as exc:
        sys.stderr.write(f"llmdoctor: error: {exc}\n")
        code = 2
    except CliError as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        command = getattr(getattr(exc, "ctx", None), "command_path", "llmdoctor")
        sys.stderr.write(f"llmdoctor: error: {message} (see '{command} --help')\n")
        code = 2
    except typer.Abort:
        sys.stderr.write("llmdoctor: aborted\n")
        code = 130
    except KeyboardInterrupt:
        sys.stderr.write("llmdoctor: interrupted\n")
        code = 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        code = 0
    except Exception as exc:  # noqa: BLE001 - the contract: internal errors are exit 3, one line
        sys.stderr.write(f"llmdoctor: internal error: {type(exc).__name__}: {exc}\n")
        if os.environ.get("LLMDOCTOR_DEBUG"):
            import traceback

            traceback.print_exc()
        else:
            sys.stderr.write("llmdoctor: set LLMDOCTOR_DEBUG=1 for the traceback, and please report it\n")
        code = 3
    sys.stdout.flush()
    sys.exit(code if isinstance(code, int) else 0)
