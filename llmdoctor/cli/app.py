"""The ``llmdoctor`` command: wiring of the per-command modules, and the exit-code contract.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input (one line on stderr), 3 internal error.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, Optional

import typer

from .. import __version__

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


# Every command: (module under llmdoctor.cli, attribute, how it is added).  Only the command a run names
# is imported and built (its module, its options): start-up pays for one command, not for all of them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("check", "check", "check"),
    "snapshot": ("snapshot", "snapshot", "command"),
    "checks": ("checks_cmd", "list_checks", "command"),
    "explain": ("checks_cmd", "explain", "command"),
    "config": ("config_cmd", "show_config", "command"),
    "fix": ("fix", "fix_app", "group"),
    "env": ("env_cmd", "env", "command"),
    "fit": ("fit", "fit", "command"),
    "memory": ("memory_cmd", "memory_app", "group"),
    "explain-error": ("explain_error", "explain_error", "command"),
    "diff": ("diff", "diff", "command"),
    "cluster": ("cluster", "register", "register"),
    "watch": ("watch", "watch", "command"),
}

# The first paragraph of each command's help: what the root's --help lists, and the "No such command"
# suggestions, need no command module imported (a test keeps this equal to the commands' own help).
SUMMARIES: dict[str, str] = {
    "check": "Examine this machine (or a snapshot) and report a verdict per check.",
    "snapshot": "Print (or save) the snapshot of this machine: the facts every check works from.",
    "checks": "List every check: id, title, the snapshot parts it needs, and where it comes from.",
    "explain": "What a check verifies, why it matters, how to fix it, and its sources.",
    "config": "Print the effective configuration and where each value comes from (file or default).",
    "fix": "Produce fixes (scripts, pinned environment files) for what llmdoctor check found.",
    "env": 'Print the recommended environment for this machine: eval "$(llmdoctor env)" (fish: llmdoctor env | source).',
    "fit": "Will MODEL fit on these GPUs? Per-GPU bars, the largest context that fits, and ranked ways to make it fit.",
    "memory": "GPU memory: analyze a torch memory snapshot.",
    "explain-error": "Diagnose an error message: root cause, the check it belongs to, the fix (commands) and sources.",
    "diff": "Show the differences between environments that matter, most likely cause of a failure first.",
    "cluster": "Every node and rank of a distributed job in one report (run under torchrun/srun/mpirun, or --from DIR).",
    "watch": "Re-run the live health checks every --every seconds; print what changed; rewrite the Prometheus file.",
}
ROOT_ONLY = "(root)"  # build_app(ROOT_ONLY): the root with each command as its summary, nothing imported


def _not_built() -> None:  # pragma: no cover - a summary is only listed, never invoked
    raise RuntimeError("a command summary was invoked")


def build_app(only: Optional[str] = None) -> typer.Typer:
    """The ``llmdoctor`` app with every command, or with only ``only`` (the command this run invokes)."""
    import importlib

    built = typer.Typer(
        name="llmdoctor",
        help="The environment doctor for training and serving LLMs on NVIDIA GPUs.",
        no_args_is_help=False,
        invoke_without_command=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    if only == ROOT_ONLY:  # typer lists commands, then groups: the summaries keep that order
        for name in sorted(COMMANDS, key=lambda n: COMMANDS[n][2] == "group"):
            built.command(name, help=SUMMARIES[name])(_not_built)
        return built
    for name, (module_name, attr, how) in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(f"{__package__}.{module_name}")
        target = getattr(module, attr)
        if how == "check":  # check's options include the flags the registered checks declare
            built.command(name, cls=module.CheckCommand)(target)
        elif how == "group":
            built.add_typer(target, name=name)
        elif how == "register":
            target(built)
        else:
            built.command(name)(target)
    return built


def invoked_command(args: list[str]) -> Optional[str]:
    """The command these arguments run, when it is a known one named first; else ``ROOT_ONLY`` (the
    root's --help/--version and click's "No such command" with its suggestion need only the commands'
    names and summaries), or None (the whole app) while the shell asks for completions."""
    if args and args[0] in COMMANDS:
        return args[0]
    return None if os.environ.get("_LLMDOCTOR_COMPLETE") else ROOT_ONLY


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole app, for tests and docs tools that walk every command
        whole = build_app()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)


def tidy_metavars(command: Any) -> None:
    """Help names values by their option (``--top TOP``, ``CHECK_ID``), never ``<int>``, ``<str>`` or ``{ID}``."""
    for param in getattr(command, "params", ()):
        if param.param_type_name == "argument":
            param.metavar = (param.metavar or param.name or "ARG").strip("{}").upper()
            param.make_metavar = types.MethodType(_argument_metavar, param)
        elif not getattr(param, "is_flag", False) and not getattr(param, "count", False) and param.metavar is None:
            param.metavar = (param.name or "VALUE").strip("_").upper()
    for sub in getattr(command, "commands", {}).values():
        tidy_metavars(sub)


def _argument_metavar(self: Any, ctx: Any = None, *, usage: bool = False) -> str:
    name = str(self.metavar)
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return f"[{name}]" if usage and not self.required else name


COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _completion_for_named_shell(args: list[str]) -> bool:
    """``--show-completion SHELL`` / ``--install-completion SHELL``: the named shell wins over $SHELL."""
    if len(args) != 2 or args[0] not in ("--show-completion", "--install-completion") or args[1] not in COMPLETION_SHELLS:
        return False
    from typer import completion

    completion_api: Any = completion  # typer's completion helpers (not re-exported by name)
    if args[0] == "--show-completion":
        sys.stdout.write(completion_api.get_completion_script(prog_name="llmdoctor", complete_var="_LLMDOCTOR_COMPLETE",
                                                          shell=args[1]) + "\n")
        return True
    shell, path = completion_api.install(shell=args[1], prog_name="llmdoctor", complete_var="_LLMDOCTOR_COMPLETE")
    sys.stdout.write(f"{shell} completion installed in {path}\n")
    return True


def _cli_message(exc: Exception) -> str:
    """Click's message, with its did-you-mean for an unknown option limited to close real options."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    name = getattr(exc, "option_name", None)
    possibilities = getattr(exc, "possibilities", None)
    if name and possibilities is not None:
        import difflib

        near = difflib.get_close_matches(name, list(possibilities), n=1, cutoff=0.75)
        message = f"No such option: {name}" + (f" (did you mean {near[0]}?)" if near else "")
    return message


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: maps every outcome to the documented exit code."""
    CliError: Any
    try:  # typer >= 0.2x vendors click; older typer re-exports click's classes
        from typer import TyperException as CliError
    except ImportError:  # pragma: no cover
        from click import ClickException as CliError

    from ..usage import UsageError

    args = sys.argv[1:] if argv is None else argv
    try:
        if _completion_for_named_shell(args):
            code = 0
        else:
            command = typer.main.get_command(build_app(invoked_command(list(args))))
            tidy_metavars(command)
            code = command.main(args=args, prog_name="llmdoctor", standalone_mode=False)
    except UsageError as exc:
        sys.stderr.write(f"llmdoctor: error: {exc}\n")
        code = 2
    except CliError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `llmdoctor memory`: its help, not an error
            ctx = getattr(exc, "ctx", None)
            sys.stdout.write((ctx.get_help() if ctx is not None else "") + "\n")
            sys.stdout.flush()
            sys.exit(0)
        message = _cli_message(exc)
        where = getattr(getattr(exc, "ctx", None), "command_path", "llmdoctor")
        sys.stderr.write(f"llmdoctor: error: {message} (see '{where} --help')\n")
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
