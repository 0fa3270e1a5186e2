"""llmdoctor explain-error TEXT|FILE: the diagnosis of an error message alone (data/error_patterns.json).

Exit codes: 0 a known error was recognised, 1 none was, 2 unreadable input.
"""

from __future__ import annotations

import json
import os
import re

import typer

from ..engine import UsageError


def explain_error(
    source: str = typer.Argument(..., metavar="TEXT|FILE", help="The error text, a file holding it, or '-' for stdin."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable diagnosis."),
) -> None:
    """Diagnose an error message: root cause, the check it belongs to, the fix and sources."""
    from ..inputs import read_input
    from ..facts.known_errors import recognise
    from ..parsers import parse_facts
    from ..redact import redact_value

    if source == "-" or (len(source) < 4096 and "\n" not in source and os.path.isfile(source)):
        text, name = read_input(source)
    elif re.fullmatch(r"[\w./\\~:-]+\.(?:txt|log|md|out|err|json)", source.strip()):
        raise UsageError(f"{source}: no such file")
    else:
        if not source.strip():
            raise UsageError("explain-error: empty text")
        text, name = source, "<text>"
    facts = parse_facts(text)
    seen: dict[str, object] = {}
    # the parser keeps every known error's lines; a short text is also matched whole (wrapped messages)
    for match in recognise([*facts.errors, *([text] if len(text) < 65536 else [])]):
        seen.setdefault(match.error.id, match)
    matches = list(seen.values())
    if json_:
        doc = {"schema": "llmdoctor.explain-error/1", "input": name, "recognised": [
            {**m.error.row, "detail": m.detail, "error": redact_value(m.excerpt)} for m in matches]}
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        raise typer.Exit(0 if matches else 1)
    if not matches:
        typer.echo("No known error message recognised (llmdoctor knows the messages in data/error_patterns.json).")
        typer.echo("Run 'llmdoctor check' on the machine, or 'llmdoctor check --from FILE' on its collect_env output.")
        raise typer.Exit(1)
    for i, m in enumerate(matches):
        if i:
            typer.echo("")
        e = m.error
        typer.echo(f"{e.id} · check {e.check} · {e.severity}")
        typer.echo(f"  seen:    {redact_value(m.excerpt)}")
        if m.detail:
            typer.echo(f"  means:   {m.detail}")
        typer.echo(f"  cause:   {e.cause}")
        typer.echo(f"  fix:     {e.fix}")
        typer.echo(f"  sources: {'; '.join(e.sources)}")
    typer.echo("")
    checks = sorted({m.error.check for m in matches} - {"errors.known"})
    if checks:
        typer.echo(f"More: llmdoctor explain {checks[0]}" + (f" (also {', '.join(checks[1:])})" if len(checks) > 1 else ""))
    raise typer.Exit(0)
