"""llmdoctor explain-error TEXT|FILE|CODE: the diagnosis of an error message alone (the knowledge base).

Uses the same recogniser as ``check --from``.  Exit codes: 0 a known error was recognised (or a code was
shown / listed), 1 none was (the facts the text states are still printed), 2 empty, binary or unreadable input.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import typer

from ..engine import UsageError

_CODE = re.compile(r"^LD-[A-Z]+-\d{3}$", re.I)


def explain_error(
    source: str = typer.Argument("", metavar="TEXT|FILE|CODE",
                                 help="The error text, a file holding it, '-' for stdin, or a code (LD-CUDA-001)."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable diagnosis."),
    list_: bool = typer.Option(False, "--list", help="List every known error: code, check, title."),
) -> None:
    """Diagnose an error message: root cause, the check it belongs to, the fix (commands) and sources."""
    if list_:
        _list(json_)
        raise typer.Exit(0)
    if _CODE.match(source.strip()):
        _show_code(source.strip(), json_)
        raise typer.Exit(0)
    text, name = _read(source)
    matches, facts = _diagnose(text)
    if json_:
        _print_json(name, matches, facts)
    elif matches:
        _print_matches(matches)
    else:
        _print_unknown(facts)
    raise typer.Exit(0 if matches else 1)


def _read(source: str) -> tuple[str, str]:
    from ..inputs import read_input

    if source == "-" or (len(source) < 4096 and "\n" not in source and os.path.isfile(source)):
        return read_input(source)
    if re.fullmatch(r"[\w./\\~:-]+\.(?:txt|log|md|out|err|json)", source.strip()):
        raise UsageError(f"{source}: no such file")
    if not source.strip():
        raise UsageError("explain-error: empty text (give the error text, a file, '-' or --list)")
    if "\x00" in source:
        raise UsageError("explain-error: binary data, not an error text")
    return source, "<text>"


def _diagnose(text: str) -> tuple[list[Any], dict[str, str]]:
    """The known errors in ``text`` (the recogniser check --from uses) and the facts it states."""
    from ..facts.known_error_findings import matches_for, stated_facts
    from ..parsers import parse_facts

    facts = parse_facts(text)
    extra = [text] if len(text) < 65536 else []  # a short text is also matched whole (wrapped messages)
    snap = facts.to_snapshot("<text>", None, None)
    snap = snap.__class__(**{**{f: getattr(snap, f) for f in snap.__dataclass_fields__},
                             "errors": tuple(facts.errors) + tuple(extra)})
    return matches_for(snap), stated_facts(snap)


def _print_matches(matches: list[Any]) -> None:
    from ..redact import redact_value

    for i, m in enumerate(matches):
        if i:
            typer.echo("")
        e = m.error
        typer.echo(f"{e.code} · check {e.check} · {e.severity}" + (f" · {e.title}" if e.title else ""))
        typer.echo(f"  seen:    {redact_value(m.excerpt)}")
        if m.detail:
            typer.echo(f"  means:   {m.detail}")
        typer.echo(f"  cause:   {e.cause}")
        typer.echo(f"  fix:     {e.fix}")
        for cmd in e.commands:
            typer.echo(f"           $ {cmd}")
        typer.echo(f"  sources: {'; '.join(e.public_sources)}")
    typer.echo("")
    from ..facts.known_errors import TRIAGE_CHECK

    checks = sorted({m.error.check for m in matches} - {TRIAGE_CHECK})
    if checks:
        typer.echo(f"More: llmdoctor explain {checks[0]}" + (f" (also {', '.join(checks[1:])})" if len(checks) > 1 else ""))


def _print_unknown(facts: dict[str, str]) -> None:
    typer.echo("No known error message recognised (llmdoctor explain-error --list shows the known ones).")
    if facts:
        typer.echo("Facts the text states:")
        for k, v in facts.items():
            typer.echo(f"  {k}: {v}")
    typer.echo("Run 'llmdoctor check' on the machine, or 'llmdoctor check --from FILE' on its collect_env output.")


def _print_json(name: str, matches: list[Any], facts: dict[str, str]) -> None:
    from ..redact import redact_value

    doc = {"schema": "llmdoctor.explain-error/1", "input": name, "recognised": [
        {**m.error.row, "detail": m.detail, "error": redact_value(m.excerpt)} for m in matches], "facts": facts}
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _list(json_: bool) -> None:
    from ..facts.known_errors import table

    rows = [e.row for e in table()]
    if json_:
        typer.echo(json.dumps({"schema": "llmdoctor.known-errors/1", "entries": rows}, indent=2, ensure_ascii=False))
        return
    for e in table():
        typer.echo(f"{e.code:<14} {e.check:<20} {e.title or e.cause[:70]}")
    typer.echo(f"{len(rows)} known errors")


def _show_code(code: str, json_: bool) -> None:
    from ..facts.known_errors import lookup

    err = lookup(code)
    if err is None:
        raise UsageError(f"{code}: no such known-error code (llmdoctor explain-error --list)")
    if json_:
        typer.echo(json.dumps(err.row, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{err.code} · check {err.check} · {err.severity}" + (f" · {err.title}" if err.title else ""))
    typer.echo(f"  cause:   {err.cause}")
    typer.echo(f"  fix:     {err.fix}")
    for cmd in err.commands:
        typer.echo(f"           $ {cmd}")
    typer.echo(f"  sources: {'; '.join(err.public_sources)}")
