"""The fix contract: a registered function that reads the snapshot and the report and produces an artifact.

```python
@fix("nccl", "NCCL exports for this machine", options={"format": Setting(str, "sh", "shell or format", choices=FORMATS)})
def fix_nccl_script(snapshot: Snapshot, report: Report, format: str) -> Artifact:
    ...
    return Artifact(text, suggested_name="nccl.env.sh")
```
A fix never re-runs checks (it reads ``report``), never writes files (the CLI writes the artifact through
``fixes.writer``), and never imports ``llmdoctor.checks``: helpers shared with checks live in
``llmdoctor.facts``.  A finding's ``remedy.fix`` must name a registered fix.  Fix modules are the
public submodules of ``llmdoctor.fixes`` (``registry``, ``writer`` and ``shell`` are infrastructure).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..engine import Setting, UsageError, _as_setting
from ..frozen import frozen

INFRASTRUCTURE = {"registry", "writer", "shell"}


@frozen
class Artifact:
    """What a fix produces: the text, a file name to suggest, and what it is for (one line)."""

    text: str
    suggested_name: str | None = None
    description: str = ""


class CannotFix(Exception):
    """The fix cannot produce an artifact for this snapshot (the CLI prints the reason, exit 1)."""

    what = "fix"  # the verb of the CLI's line: "cannot fix: <reason>"


@frozen
class FixSpec:
    id: str
    title: str
    func: Callable[..., Artifact]
    options: Mapping[str, Setting] = field(default_factory=dict, compare=False)

    @property
    def explanation(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "").strip()

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Declared options with defaults filled in; an unknown option or a value outside the choices is UsageError."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            raise UsageError(f"fix {self.id}: unknown option {unknown[0]!r} (options: {', '.join(sorted(self.options)) or 'none'})")
        out: dict[str, Any] = {}
        for name, decl in self.options.items():
            value = given.get(name)
            if value is None:
                value = decl.default
            elif decl.choices:
                lowered = {c.lower(): c for c in decl.choices}
                if str(value).lower() not in lowered:
                    raise UsageError(f"fix {self.id}: --{name.replace('_', '-')} {value!r}: choose one of "
                                     f"{', '.join(decl.choices)}")
                value = lowered[str(value).lower()]
            out[name] = value
        return out


def fix(id: str, title: str, options: Mapping[str, Any] | None = None) -> Callable[[Callable[..., Artifact]], Callable[..., Artifact]]:
    """Register ``func(snapshot, report, **options) -> Artifact`` as the fix ``id``."""
    declared = {name: _as_setting(name, value) for name, value in (options or {}).items()}

    def decorate(func: Callable[..., Artifact]) -> Callable[..., Artifact]:
        func.__llmdoctor_fix__ = FixSpec(id, title, func, declared)  # type: ignore[attr-defined]
        return func

    return decorate


_FIXES: dict[str, FixSpec] | None = None


def load_fixes() -> dict[str, FixSpec]:
    """Every registered fix by id (imports the fix modules once)."""
    global _FIXES
    if _FIXES is not None:
        return _FIXES
    from .. import fixes

    found: dict[str, FixSpec] = {}
    for info in sorted(pkgutil.iter_modules(fixes.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{fixes.__name__}.{info.name}")
        for value in vars(module).values():
            spec = getattr(value, "__llmdoctor_fix__", None)
            if isinstance(spec, FixSpec):
                if spec.id in found and found[spec.id].func is not spec.func:
                    raise UsageError(f"duplicate fix id {spec.id!r}")
                found[spec.id] = spec
    _FIXES = dict(sorted(found.items()))
    return _FIXES


def run_fix(spec: FixSpec, snapshot: Any, report: Any, options: Mapping[str, Any] | None = None) -> Artifact:
    return spec.func(snapshot, report, **spec.resolve_options(options or {}))
