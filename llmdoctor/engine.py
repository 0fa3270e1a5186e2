"""Check registry and runner.

A check is a plain function whose keyword parameters are the snapshot parts it reads, typed
(``def check_x(torch: Torch, driver: Driver | None, ctx: Context) -> Finding | Iterable[Finding] | None``),
registered with ``@check(id, title, settings=..., known_errors=...)``.  The registry derives what the check
needs from its signature and refuses, at load time, a parameter that is not a snapshot part or is typed
as another part; a needed part that is unknown makes the check ``unknown`` with the part's reason without
calling it.  Besides the parts, a check may take ``ctx`` (its settings), ``snapshot`` (the whole snapshot,
for the few checks that span every part) and ``checks_run`` (the ids of the checks in this run, for a check
that reports what no other check of the run will).  Its docstring is its long explanation (what it verifies, why it matters, how to fix,
sources) used by ``llmdoctor explain`` and the docs.

Built-in checks and plugins are discovered the same way: through the ``llmdoctor.checks`` entry-point
group.  Importing an entry point's module (or package: every submodule is imported) runs the
``@check`` decorators.  Discovery is sorted for determinism; a duplicate id is refused naming both
owners; a plugin that fails to import becomes an error result, not a crash.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from .results import CheckResult, Finding, Remedy, Report, Status
from .snapshot import Snapshot
from .usage import UsageError as UsageError  # re-exported: checks, fixes and the CLI raise it
from .frozen import frozen

ENTRY_POINT_GROUP = "llmdoctor.checks"


@frozen
class Setting:
    """A per-check setting: its type (int, float, str, bool, list), default and one-line help.

    ``flag``: the command-line option that sets it (``--dtype``); several checks may declare the same flag
    and then share its value.  Configuration files set it as ``[checks."<id>"] name = value``.
    """

    type: type
    default: Any
    help: str = ""
    flag: str | None = None
    choices: tuple[str, ...] = ()  # for str settings: the values accepted (case-insensitive)
    requires: str | None = None  # another flag without which this one means nothing ("--model" for "--seq-len")

    @property
    def key(self) -> str | None:
        """The name a flag's value has in ``Context.options`` ("--debug-ok" -> "debug_ok")."""
        return flag_key(self.flag) if self.flag else None


def flag_key(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _as_setting(name: str, value: Any) -> Setting:
    if isinstance(value, Setting):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], type):
        return Setting(*value)
    raise UsageError(f"setting {name!r}: declare it as (type, default, help)")


class UndeclaredSetting(KeyError):
    """A check read a setting it did not declare (a bug in the check: it becomes an error result)."""


@frozen
class Context:
    """The settings one check may read: exactly those it declared, with their values. Frozen.

    ``ctx.setting("threshold")`` (or ``ctx["threshold"]``) reads one of the check's own settings; an
    undeclared name raises ``UndeclaredSetting``.  ``options`` holds the configured values by full key
    (``"<id>.<name>"``, or a shared flag's name such as ``"dtype"``) as the runner received them.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    check_id: str | None = None
    declared: Mapping[str, "Setting"] = field(default_factory=dict)

    def setting(self, name: str) -> Any:
        if self.check_id is not None and name not in self.declared:
            raise UndeclaredSetting(f"check {self.check_id} reads setting {name!r}, which it does not declare")
        decl = self.declared.get(name)
        # the command line's flag first (it wins over the configuration file), then "<id>.<name>"
        for key in (decl.key if decl else None, f"{self.check_id}.{name}"):
            if key and self.options.get(key) is not None:
                return self.options[key]
        return decl.default if decl else None

    __getitem__ = setting

    def option(self, name: str, default: Any = None) -> Any:
        """Legacy full-key access (``"<id>.<name>"`` or a shared input such as ``"dtype"``)."""
        value = self.options.get(name)
        return default if value is None else value

    def for_check(self, spec: "CheckSpec") -> "Context":
        return Context(self.options, spec.id, spec.settings)


# The parameters a check may declare besides the snapshot's parts.
CONTEXT_PARAM = "ctx"
WHOLE_SNAPSHOT_PARAM = "snapshot"  # the whole snapshot, for the few checks that span every part
# ``checks_run: frozenset[str]``: the ids of every check in this run (``errors.known`` reports the known
# errors whose owning check is not among them).  A check run alone (``run_check`` without ``checks_run``)
# sees only its own id.
CHECKS_RUN_PARAM = "checks_run"
SPECIAL_PARAMS: dict[str, Any] = {CONTEXT_PARAM: Context, WHOLE_SNAPSHOT_PARAM: Snapshot, CHECKS_RUN_PARAM: frozenset[str]}


_PARTS: dict[str, Any] | None = None


def snapshot_parts() -> dict[str, Any]:
    """``{part name: its type}`` for every field of Snapshot a check may declare as a parameter (computed once)."""
    global _PARTS
    if _PARTS is None:
        import typing

        hints = typing.get_type_hints(Snapshot)
        _PARTS = {f.name: hints[f.name] for f in dataclasses.fields(Snapshot) if f.name != "schema"}
    return dict(_PARTS)


@frozen
class CheckSpec:
    """A registered check: its id, title, function, the parts it reads and its settings."""

    id: str
    title: str
    func: Callable[..., Any]
    needs: tuple[str, ...] = ()  # parts that must be known (derived from the signature)
    origin: str = "builtin"
    # Settings the check reads with ctx.setting(name): name -> Setting (type, default, help, flag).
    settings: Mapping[str, "Setting"] = field(default_factory=dict, compare=False)
    params: tuple[str, ...] = ()  # the keyword parameters the check takes (parts, ctx, snapshot)
    known_errors: bool = False  # recognised error texts that belong to this check become its findings

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def explanation(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "").strip()


def _non_none(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    import types
    import typing

    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        allowed = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), allowed
    return tp, False


def signature_contract(check_id: str, func: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(params, needs) of a check function, verified against the snapshot's parts.

    Every parameter must be a snapshot part (typed as that part's type, ``X | None`` when the check copes
    with it unknown), ``ctx``, ``snapshot`` or ``checks_run``.  An unknown name or a wrong type is refused
    (UsageError).
    """
    import typing

    parts = snapshot_parts()
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise UsageError(f"check {check_id}: its annotations cannot be resolved ({exc})") from None
    params, needs = [], []
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UsageError(f"check {check_id}: *args/**kwargs are not part of the check contract")
        params.append(name)
        if name in SPECIAL_PARAMS:
            _verify_special(check_id, name, hints.get(name))
            continue
        if name not in parts:
            hint = " (the old (snap, ctx) form is gone: name the parts, or take snapshot: Snapshot)" \
                if name == "snap" else ""
            raise UsageError(f"check {check_id}: parameter {name!r} is not a snapshot part "
                             f"(known: {', '.join(sorted(parts))}, {', '.join(SPECIAL_PARAMS)}){hint}")
        expected, _ = _non_none(parts[name])
        # an unannotated part is needed: the check is not called with a part it may not expect as None
        declared, optional = _non_none(hints[name]) if name in hints else (expected, False)
        if name in hints and declared != expected:
            raise UsageError(f"check {check_id}: parameter {name!r} is typed {declared!r}, "
                             f"but the snapshot's {name} is {expected!r}")
        if not optional and param.default is inspect.Parameter.empty:
            needs.append(name)
    return tuple(params), tuple(needs)


def _verify_special(check_id: str, name: str, declared: Any) -> None:
    expected = SPECIAL_PARAMS[name]
    if declared is not None and declared != expected:
        raise UsageError(f"check {check_id}: parameter {name!r} is typed {declared!r}, but it is {expected!r}")


def check(id: str, title: str, needs: Iterable[str] | None = None,
          settings: Mapping[str, Any] | None = None,
          known_errors: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a check; ``load_registry`` collects it from its module.

    The function's keyword parameters are the snapshot parts it reads, typed
    (``def check_x(torch: Torch, driver: Driver | None, ctx: Context)``): a part typed without ``None``
    must be known, or the check is reported unknown with the part's reason and not called.
    ``settings``: ``{name: Setting(type, default, help, flag)}`` (or a ``(type, default, help)`` tuple), the
    only names ``ctx.setting`` may read.  ``known_errors=True``: the recognised error texts that belong to
    this check become its findings (the facts decide when they gave a verdict).
    """
    declared = {name: _as_setting(name, value) for name, value in (settings or {}).items()}

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        _validate_id(id)
        if needs is not None:
            raise UsageError(f"check {id}: needs= is derived from the signature; drop it")
        # params and needs are derived at load time (verify): annotations may name later definitions
        func.__llmdoctor_check__ = CheckSpec(  # type: ignore[attr-defined]
            id=id, title=title, func=func, settings=declared, known_errors=known_errors)
        return func

    return decorate


def verify(spec: CheckSpec) -> CheckSpec:
    """The spec with its signature contract derived and checked (UsageError names the check)."""
    params, needs = signature_contract(spec.id, spec.func)
    return dataclasses.replace(spec, params=params, needs=needs)


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

    def __iter__(self) -> Iterator[CheckSpec]:
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
    """(name, module, distribution) of every llmdoctor.checks entry point, sorted.

    Scanning every distribution's entry points costs more than the rest of a warm run's start-up, and
    changes only with an install: the result is cached (``llmdoctor.cache``) for this interpreter and
    this sys.path, and re-read after any install, removal or reinstall.
    """
    from . import cache

    search = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    if cache.mode() == "use":
        cached = _cached_entry_points(cache.load(sys.executable, "entry_points").data, search)
        if cached is not None:
            return cached
    found = _scan_entry_points()
    if cache.mode() != "off":
        cache.store_section(sys.executable, "entry_points", {"search": search, ENTRY_POINT_GROUP: found}, search)
    return found


def _scan_entry_points() -> list[tuple[str, str, str]]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        found.append((ep.name, ep.value.split(":", 1)[0], dist))
    return sorted(set(found))


def _cached_entry_points(data: dict[str, Any] | None, search: list[str]) -> list[tuple[str, str, str]] | None:
    """The cached entry points if they were found on this very search path (the cwd is on it with -m)."""
    if not data or data.get("search") != search or not isinstance(data.get(ENTRY_POINT_GROUP), list):
        return None
    rows = data[ENTRY_POINT_GROUP]
    if not all(isinstance(r, list) and len(r) == 3 and all(isinstance(x, str) for x in r) for r in rows):
        return None
    return [(r[0], r[1], r[2]) for r in rows]


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
                registry.register(verify(dataclasses.replace(spec, origin=origin)))
            except UsageError as exc:
                registry.load_errors.append((origin, f"{exc} (from {origin})"))
    if entry_points is None:
        _REGISTRY = registry
    return registry


# --------------------------------------------------------------------------- selection and running


def _matches(check_id: str, pattern: str) -> bool:
    return check_id == pattern or check_id.startswith(pattern + ".") or (
        pattern.endswith("*") and check_id.startswith(pattern[:-1])
    )


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


def _call(spec: CheckSpec, snap: Snapshot, ctx: Context, checks_run: frozenset[str]) -> Any:
    kwargs: dict[str, Any] = {}
    for name in spec.params:
        if name == CONTEXT_PARAM:
            kwargs[name] = ctx.for_check(spec)
        elif name == WHOLE_SNAPSHOT_PARAM:
            kwargs[name] = snap
        elif name == CHECKS_RUN_PARAM:
            kwargs[name] = checks_run
        else:
            kwargs[name] = getattr(snap, name)
    return spec.func(**kwargs)


def _with_known_errors(spec: CheckSpec, snap: Snapshot, findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    from .facts import known_error_findings

    matches = known_error_findings.matches_for(snap, spec.id)
    if not matches:
        return findings
    return tuple(known_error_findings.merge(list(findings), matches, snap))


def run_check(spec: CheckSpec, snap: Snapshot, ctx: Context, checks_run: Iterable[str] | None = None) -> CheckResult:
    """Run one check; ``checks_run``: the ids of every check in this run (default: this check alone)."""
    start = time.perf_counter()
    missing = [part for part in spec.needs if getattr(snap, part, None) is None]
    if missing:
        reason = "; ".join(snap.unknown_reason(p) for p in missing)
        finding = Finding(Status.UNKNOWN, reason, {"unknown_parts": missing})
        # an error the input shows that belongs to this check is still its finding (it happened)
        findings = _with_known_errors(spec, snap, (finding,)) if spec.known_errors else (finding,)
        return CheckResult(spec.id, spec.title, verdict(findings), findings, time.perf_counter() - start, spec.origin)
    try:
        findings = _as_findings(_call(spec, snap, ctx, frozenset(checks_run or ()) | {spec.id}))
        if spec.known_errors:  # the knowledge base names each error's check; the check opted in to report them
            findings = _with_known_errors(spec, snap, findings)
    except Exception as exc:  # a raising check becomes an error result; the report goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        finding = Finding(
            Status.ERROR,
            f"The check raised {type(exc).__name__}: {exc}{where}; its verdict is unknown.",
            remedy=Remedy("This is a bug in llmdoctor or in the plugin that owns the check; please report it "
                          "with the snapshot.", commands=("llmdoctor snapshot -o snap.json",)),
        )
        return CheckResult(spec.id, spec.title, Status.ERROR, (finding,), time.perf_counter() - start, spec.origin)
    return CheckResult(spec.id, spec.title, verdict(findings), findings, time.perf_counter() - start, spec.origin)


def verdict(findings: Iterable[Finding]) -> Status:
    """A check's status from its findings: the worst one; no findings at all is a pass."""
    findings = list(findings)
    if not findings:
        return Status.PASS
    return max(findings, key=lambda f: f.status.severity).status


def run_checks(snap: Snapshot, specs: Iterable[CheckSpec], ctx: Context | None = None,
               registry: Registry | None = None, fail_on: str = "fail") -> Report:
    specs = list(specs)
    ctx = ctx or Context()
    checks_run = frozenset(spec.id for spec in specs)
    results = [run_check(spec, snap, ctx, checks_run) for spec in specs]
    if registry is not None:
        for origin, error in registry.load_errors:
            finding = Finding(Status.ERROR, f"Checks from {origin} could not be loaded: {error}",
                              remedy=Remedy("Fix or uninstall the plugin; the other checks ran."))
            results.append(CheckResult(f"plugin.{_slug(origin)}", f"plugin {origin}", Status.ERROR, (finding,),
                                       origin=origin))
    return Report(tuple(results), snap, fail_on)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "unknown"
