"""Check registry and runner.

A check is a plain function ``(snapshot, ctx) -> Finding | Iterable[Finding] | None`` registered with
``@check(id=..., title=..., needs=(...))``.  Its docstring is its long explanation (what it verifies,
why it matters, how to fix, sources) used by ``llmdoctor explain`` and the docs.

Built-in checks and plugins are discovered the same way: through the ``llmdoctor.checks`` entry-point
group.  Importing an entry point's module (or package: every submodule is imported) runs the
``@check`` decorators.  Discovery is sorted for determinism; a duplicate id is refused naming both
owners; a plugin that fails to import becomes an error result, not a crash.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .results import CheckResult, Finding, Report, Status
from .snapshot import Snapshot

ENTRY_POINT_GROUP = "llmdoctor.checks"


class UsageError(Exception):
    """Bad usage or input: the CLI prints the message on one line and exits 2."""


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    func: Callable[..., Any]
    needs: tuple[str, ...] = ()
    origin: str = "builtin"
    # Settings the check reads with ctx.option("<id>.<name>"): name -> Setting (type, default, help).
    # Configuration files may set exactly these ([checks."<id>"] name = value); defaults reach ctx too.
    settings: Mapping[str, "Setting"] = field(default_factory=dict, compare=False)

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def explanation(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "").strip()


@dataclass(frozen=True)
class Setting:
    """A per-check setting: its type (int, float, str, bool, list), default and one-line help."""

    type: type
    default: Any
    help: str = ""


def _as_setting(name: str, value: Any) -> Setting:
    if isinstance(value, Setting):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], type):
        return Setting(*value)
    raise UsageError(f"setting {name!r}: declare it as (type, default, help)")


@dataclass
class Context:
    """Options that shape checks (``--dtype``, config settings); checks read, never write."""

    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name)
        return default if value is None else value


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, CheckSpec] = {}
        self.load_errors: list[tuple[str, str]] = []  # (entry point, error)

    def register(self, spec: CheckSpec) -> None:
        _validate_id(spec.id)
        old = self._specs.get(spec.id)
        if old is not None and old.func is not spec.func:
            raise UsageError(
                f"duplicate check id {spec.id!r}: defined by {old.origin} ({old.func.__module__}) "
                f"and by {spec.origin} ({spec.func.__module__})"
            )
        self._specs[spec.id] = spec

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, check_id: str) -> CheckSpec | None:
        return self._specs.get(check_id)

    def ids(self) -> list[str]:
        return sorted(self._specs)


def _validate_id(check_id: str) -> None:
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+", check_id):
        raise UsageError(f"invalid check id {check_id!r}: use 'area.subject' in lower case")


def check(id: str, title: str, needs: Iterable[str] = (),
          settings: Mapping[str, Any] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function ``(snapshot, ctx)`` as a check; ``load_registry`` collects it from its module.

    ``settings`` (optional): ``{name: (type, default, help)}``, the per-check settings the check reads
    with ``ctx.option("<id>.<name>")``; a configuration file may set exactly these.
    """
    declared = {name: _as_setting(name, value) for name, value in (settings or {}).items()}

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        _validate_id(id)
        func.__llmdoctor_check__ = CheckSpec(id=id, title=title, func=func, needs=tuple(needs),  # type: ignore[attr-defined]
                                             settings=declared)
        return func

    return decorate


def _import_tree(module_name: str) -> list[Any]:
    module = importlib.import_module(module_name)
    modules = [module]
    if hasattr(module, "__path__"):
        for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            modules.extend(_import_tree(f"{module_name}.{info.name}"))
    return modules


def _specs_in(modules: Iterable[Any]) -> list[CheckSpec]:
    specs = []
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, "__llmdoctor_check__", None)
            if isinstance(spec, CheckSpec) and value.__module__ == module.__name__:
                specs.append(spec)
    return specs


def _entry_points() -> list[tuple[str, str, str]]:
    """(name, module, distribution) of every llmdoctor.checks entry point, sorted."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        found.append((ep.name, ep.value.split(":", 1)[0], dist))
    return sorted(set(found))


_REGISTRY: Registry | None = None


def load_registry(entry_points: list[tuple[str, str, str]] | None = None) -> Registry:
    """Discover built-in checks and plugins.  Cached for the default entry points."""
    global _REGISTRY
    if entry_points is None and _REGISTRY is not None:
        return _REGISTRY
    eps = _entry_points() if entry_points is None else entry_points
    if not any(mod == "llmdoctor.checks" for _, mod, _ in eps):
        # running from a source tree that is not installed: built-ins still load
        eps = [("builtin", "llmdoctor.checks", "llmdoctor")] + list(eps)
    registry = Registry()
    for name, module_name, dist in eps:
        origin = "builtin" if module_name == "llmdoctor.checks" else f"{dist}:{name}"
        try:
            modules = _import_tree(module_name)
        except Exception as exc:  # a broken plugin must not take the doctor down
            registry.load_errors.append((origin, f"{type(exc).__name__}: {exc}"))
            continue
        for spec in _specs_in(modules):
            try:
                registry.register(dataclasses.replace(spec, origin=origin))
            except UsageError as exc:
                registry.load_errors.append((origin, str(exc)))
    if entry_points is None:
        _REGISTRY = registry
    return registry


# --------------------------------------------------------------------------- selection and running


def _matches(check_id: str, pattern: str) -> bool:
    return check_id == pattern or check_id.startswith(pattern + ".") or (
        pattern.endswith("*") and check_id.startswith(pattern[:-1])
    )


def setting_defaults(specs: Iterable[CheckSpec]) -> dict[str, Any]:
    """``{"<id>.<name>": default}`` for every declared setting: what ctx.option returns unless configured."""
    return {f"{spec.id}.{name}": s.default for spec in specs for name, s in spec.settings.items()}


def select(registry: Registry, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[CheckSpec]:
    """The checks to run.  Patterns are ids or prefixes (``cuda`` selects ``cuda.*``).

    A pattern that matches no check is bad usage (UsageError): a typo must not silently run nothing.
    """
    select = [p.strip() for p in select if p.strip()]
    ignore = [p.strip() for p in ignore if p.strip()]
    ids = registry.ids()
    for pattern in [*select, *ignore]:
        if not any(_matches(i, pattern) for i in ids):
            near = _did_you_mean(pattern, ids)
            raise UsageError(f"unknown check id {pattern!r}" + (f" (did you mean {near!r}?)" if near else "")
                             + "; see 'llmdoctor checks'")
    chosen = []
    for spec in registry:
        if select and not any(_matches(spec.id, p) for p in select):
            continue
        if any(_matches(spec.id, p) for p in ignore):
            continue
        chosen.append(spec)
    return chosen


def _did_you_mean(word: str, candidates: list[str]) -> str | None:
    import difflib

    hits = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return hits[0] if hits else None


def _as_findings(result: Any) -> tuple[Finding, ...]:
    if result is None:
        return ()
    if isinstance(result, Finding):
        return (result,)
    findings = tuple(result)
    for f in findings:
        if not isinstance(f, Finding):
            raise TypeError(f"a check returned {type(f).__name__}, not a Finding")
    return findings


def run_check(spec: CheckSpec, snap: Snapshot, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    missing = [part for part in spec.needs if getattr(snap, part, None) is None]
    if missing:
        reason = "; ".join(snap.unknown_reason(p) for p in missing)
        finding = Finding(Status.SKIP, reason)
        return CheckResult(spec.id, spec.title, Status.SKIP, (finding,), time.perf_counter() - start, spec.origin)
    try:
        findings = _as_findings(spec.func(snap, ctx))
    except Exception as exc:  # a raising check becomes an error result; the report goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        finding = Finding(
            Status.ERROR,
            f"The check raised {type(exc).__name__}: {exc}{where}; its verdict is unknown.",
            remedy="This is a bug in llmdoctor or in the plugin that owns the check; please report it "
                   "with the snapshot (llmdoctor snapshot -o snap.json).",
        )
        return CheckResult(spec.id, spec.title, Status.ERROR, (finding,), time.perf_counter() - start, spec.origin)
    status = max((f.status for f in findings), key=lambda s: s.severity, default=Status.PASS)
    return CheckResult(spec.id, spec.title, status, findings, time.perf_counter() - start, spec.origin)


def run_checks(snap: Snapshot, specs: Iterable[CheckSpec], ctx: Context | None = None,
               registry: Registry | None = None, fail_on: str = "fail") -> Report:
    specs = list(specs)
    ctx = ctx or Context()
    defaults = setting_defaults(specs)
    if defaults:  # declared settings: ctx.option returns the declared default unless configured
        ctx = Context({**defaults, **{k: v for k, v in ctx.options.items() if v is not None}})
    results = [run_check(spec, snap, ctx) for spec in specs]
    if registry is not None:
        for origin, error in registry.load_errors:
            finding = Finding(Status.ERROR, f"Checks from {origin} could not be loaded: {error}",
                              remedy="Fix or uninstall the plugin; the other checks ran.")
            results.append(CheckResult(f"plugin.{_slug(origin)}", f"plugin {origin}", Status.ERROR, (finding,),
                                       origin=origin))
    return Report(tuple(results), snap, fail_on)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "unknown"
