"""llmdoctor checks: list the registered checks; llmdoctor explain ID: the long explanation."""

from __future__ import annotations

import json

import typer

from ..engine import UsageError, _did_you_mean, load_registry
from . import options


def list_checks(json_: options.Json = False) -> None:
    """List every check: id, title, the snapshot parts it needs, and where it comes from."""
    registry = load_registry()
    rows = [{"id": s.id, "title": s.title, "needs": list(s.needs), "origin": s.origin,
             "module": s.func.__module__, "settings": sorted(s.settings)} for s in registry]
    if json_:
        typer.echo(json.dumps({"checks": rows, "load_errors": [{"origin": o, "error": e} for o, e in registry.load_errors]}, indent=2))
        return
    width = max((len(r["id"]) for r in rows), default=10)
    for r in rows:
        typer.echo(f"{r['id']:<{width}}  {r['title']}  [{r['origin']}]")
    for origin, err in registry.load_errors:
        typer.echo(f"(could not load checks from {origin}: {err})", err=True)


def _complete(incomplete: str) -> list[str]:
    from .common import complete_check_ids

    return [c for c in complete_check_ids(incomplete) if "." in c]


def explain(check_id: str = typer.Argument(..., metavar="CHECK_ID", help="A check id, e.g. cuda.driver.",
                                            autocompletion=_complete)) -> None:
    """What a check verifies, why it matters, how to fix it, and its sources."""
    registry = load_registry()
    spec = registry.get(check_id)
    if spec is None:
        near = _did_you_mean(check_id, registry.ids())
        raise UsageError(f"unknown check id {check_id!r}" + (f" (did you mean {near!r}?)" if near else "")
                         + "; see 'llmdoctor checks'")
    typer.echo(f"{spec.id} — {spec.title}")
    needs = ", ".join(spec.needs) or "nothing"
    typer.echo(f"needs: {needs}; from: {spec.origin}\n")
    typer.echo(spec.explanation or "(no explanation)")
