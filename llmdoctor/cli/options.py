"""The options several commands share, each defined once.

A command declares ``from_: options.From = None``; the fix commands (built from the fix registry, not
from a function signature) get the same options as click parameters from :func:`click_params`.
``--timeout`` has no default in the parser (``None``: "not given"), so a parent command's value can
reach a subcommand; :func:`timeout_or_default` turns it into :data:`DEFAULT_TIMEOUT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer
from ..frozen import frozen

DEFAULT_TIMEOUT = 20.0  # seconds: the global probing budget when --timeout is not given
MAX_TIMEOUT = 3600.0


@frozen
class SharedOption:
    """One option's declaration: the flags, the metavar and the help; typer and click views derive from it."""

    param: str  # the Python parameter name
    decls: tuple[str, ...]
    help: str
    metavar: str | None = None
    is_flag: bool = False
    kind: Any = str

    def typer(self) -> Any:
        return typer.Option(*self.decls, help=self.help, metavar=self.metavar, show_default=False)

    def click(self) -> Any:
        """The same option as a click parameter (typer's own class, for commands built at run time)."""
        from typer.core import TyperOption

        if self.is_flag:
            return TyperOption(param_decls=[*self.decls, self.param], is_flag=True, default=False, help=self.help)
        return TyperOption(param_decls=[*self.decls, self.param], type=self.kind, default=None,
                           metavar=self.metavar, help=self.help)


FROM = SharedOption("from_", ("--from",), "Read a saved snapshot or a pasted dump instead of probing this "
                    "machine ('-' = stdin).", metavar="FILE")
PYTHON = SharedOption("python", ("--python",), "Inspect another interpreter's torch and packages "
                      "(the path to its python). This runs that interpreter (a small probe of ours, after the "
                      "command line is validated): name only one you trust.", metavar="PYTHON")
TIMEOUT = SharedOption("timeout", ("--timeout",), f"Global probing budget in seconds (default "
                       f"{DEFAULT_TIMEOUT:g}).", metavar="SECONDS", kind=float)
FORMAT = SharedOption("fmt", ("--format", "-f"), "Output format.", metavar="FORMAT")
OUTPUT = SharedOption("output", ("--output", "-o"), "Write to FILE (atomically) instead of stdout.",
                      metavar="FILE")
FORCE = SharedOption("force", ("--force",), "Replace FILE if it exists (the old one is kept as FILE.bak).",
                     is_flag=True)
ANONYMIZE = SharedOption("anonymize", ("--anonymize",), "Replace host names, user names in paths and GPU "
                         "UUIDs in the output.", is_flag=True)
CONFIG = SharedOption("config_file", ("--config",), "Read this configuration file instead of searching "
                      "for llmdoctor.toml / pyproject.toml.", metavar="FILE")
JSON = SharedOption("json_", ("--json",), "Machine-readable output (JSON).", is_flag=True)

# Parameter annotations for typer commands: ``def cmd(from_: From = None, ...)``.
From = Annotated[Optional[str], FROM.typer()]
Python = Annotated[Optional[str], PYTHON.typer()]
Timeout = Annotated[Optional[float], TIMEOUT.typer()]
Output = Annotated[Optional[str], OUTPUT.typer()]
Force = Annotated[bool, FORCE.typer()]
Anonymize = Annotated[bool, ANONYMIZE.typer()]
ConfigFile = Annotated[Optional[str], CONFIG.typer()]
Json = Annotated[bool, JSON.typer()]

# What every command that reads a machine takes (the fix commands get these as click parameters).
SOURCE_OPTIONS = (FROM, PYTHON, TIMEOUT)
ARTIFACT_OPTIONS = (OUTPUT, FORCE)


def format_option(choices: tuple[str, ...], help: str | None = None) -> Any:
    """``--format/-f`` with the command's own choices named in its help and completed by the shell."""
    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    return typer.Option(*FORMAT.decls, help=help or " | ".join(choices), metavar="FORMAT", show_default=False,
                        autocompletion=complete)


def click_params(*shared: SharedOption) -> list[Any]:
    return [s.click() for s in shared]


def timeout_or_default(timeout: float | None) -> float:
    return DEFAULT_TIMEOUT if timeout is None else timeout


def inherit(ctx: Any, params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``params`` with every name the command left unset taken from its parent command's options.

    ``llmdoctor fix --from snap.json nccl`` means ``llmdoctor fix nccl --from snap.json``.
    """
    out = dict(params)
    parent = getattr(ctx, "parent", None)
    given = getattr(parent, "params", None) or {}
    for name in names:
        if out.get(name) is None and given.get(name) is not None:
            out[name] = given[name]
    return out


Refresh = Annotated[bool, typer.Option("--refresh", help="Probe torch and the installed packages again and rewrite the cache.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache (torch's build facts, the packages' metadata, the plugins' entry points).")]


def cache_mode(refresh: bool, no_cache: bool) -> str:
    """The torch build-facts cache mode for probes.collect: use | refresh | off."""
    return "off" if no_cache else ("refresh" if refresh else "use")
