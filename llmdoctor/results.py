"""Findings, check results and the report: plain data, no rendering, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .units import truncate
from .frozen import frozen

REPORT_SCHEMA = "llmdoctor.report/2"
# What ``--fail-on`` / ``fail-on =`` accept: fail (default), warn (fail or warn), unknown (fail, or a check
# that could not run: unknown or error; the preflight setting: a node whose facts can't be read fails).
FAIL_ON = ("fail", "warn", "unknown")
# The longest evidence text a report carries (JSON included); longer ones are cut at a word boundary.
EVIDENCE_LIMIT = 500
# Report schemas this version still reads (``check --from report.json`` takes the snapshot inside).
READABLE_REPORT_SCHEMAS = ("llmdoctor.report/1", REPORT_SCHEMA)


class Status(str, enum.Enum):
    """A verdict.

    - pass: every fact the verdict rests on was read and is fine;
    - warn / fail: a problem, of that weight;
    - not_applicable: nothing to check here (no GPU on this host, torch not installed, ...);
    - unknown: the check could not decide (a probe failed or timed out, the input doesn't state a fact);
    - error: the check itself raised (a bug): its verdict is unknown too.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


# A check's status is its worst finding's.  Unknown outranks pass: a pass needs every fact it rests on,
# so a pass beside an unknown is not a pass; a warning or a failure found is still reported as such.
_SEVERITY = {Status.NOT_APPLICABLE: 0, Status.PASS: 1, Status.UNKNOWN: 2, Status.WARN: 3, Status.FAIL: 4,
             Status.ERROR: 5}


@frozen
class Remedy:
    """What to do about a finding, as data.

    text: the action in words ("Upgrade the driver to >= 525.60.13, or install torch built for cu118").
    commands: shell lines a user copies as they are, one per item (renderers print them as code).
    fix: the id of a registered ``llmdoctor fix`` that produces the artifact, when there is one.
    links: public URLs (or owner/repo#N) that explain it.
    """

    text: str
    commands: tuple[str, ...] = ()
    fix: str | None = None
    links: tuple[str, ...] = ()

    def __str__(self) -> str:
        """The text, then each command not already quoted in it."""
        return " ".join([self.text, *(c for c in self.commands if c not in self.text)]).strip()

    def __contains__(self, needle: str) -> bool:
        return needle in str(self) or (self.fix is not None and needle in self.fix)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "commands": list(self.commands), "fix": self.fix, "links": list(self.links)}


def as_remedy(remedy: "str | Remedy | None", fix: str | None = None,
              commands: Iterable[str] = (), links: Iterable[str] = ()) -> Remedy | None:
    """A Remedy from the finding helpers' arguments (a plain string is the text)."""
    commands, links = tuple(commands), tuple(links)
    if remedy is None and fix is None and not commands:
        return None
    if isinstance(remedy, Remedy):
        return Remedy(remedy.text, remedy.commands + commands, remedy.fix or fix, remedy.links + links)
    return Remedy(remedy or "", commands, fix, links)


@frozen
class Finding:
    """One observation of a check: the fact and its consequence, the raw evidence, what to do.

    message: one sentence, fact and consequence ("Driver 470.82 supports CUDA <= 11.4, but ...").
    evidence: the raw values behind it.
    remedy: what to do (text, commands to copy, the registered fix, links).
    subject: what the finding is about when a check looks at several things ("GPU 0").
    """

    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remedy: Remedy | None = None
    subject: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.remedy, str):  # a plain string is the remedy's text
            object.__setattr__(self, "remedy", Remedy(self.remedy))

    @property
    def fix(self) -> str | None:
        """The registered fix that produces this finding's remedy, if any."""
        return self.remedy.fix if self.remedy else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message": self.message,
            "evidence": {k: _cut(v) for k, v in self.evidence.items()},
            "remedy": self.remedy.to_dict() if self.remedy else None,
            "subject": self.subject,
        }


def _cut(value: Any) -> Any:
    """An evidence value as reports carry it: long texts cut at a word boundary (see EVIDENCE_LIMIT)."""
    if isinstance(value, str):
        return truncate(value, EVIDENCE_LIMIT)
    if isinstance(value, (list, tuple)):
        return [_cut(v) for v in value]
    return value


def passed(message: str, evidence: Mapping[str, Any] | None = None, subject: str | None = None) -> Finding:
    return Finding(Status.PASS, message, evidence or {}, subject=subject)


def warn(message: str, evidence: Mapping[str, Any] | None = None, remedy: str | Remedy | None = None,
         fix: str | None = None, subject: str | None = None, commands: Iterable[str] = (),
         links: Iterable[str] = ()) -> Finding:
    return Finding(Status.WARN, message, evidence or {}, as_remedy(remedy, fix, commands, links), subject)


def fail(message: str, evidence: Mapping[str, Any] | None = None, remedy: str | Remedy | None = None,
         fix: str | None = None, subject: str | None = None, commands: Iterable[str] = (),
         links: Iterable[str] = ()) -> Finding:
    return Finding(Status.FAIL, message, evidence or {}, as_remedy(remedy, fix, commands, links), subject)


def not_applicable(reason: str, evidence: Mapping[str, Any] | None = None,
                   subject: str | None = None) -> Finding:
    """Nothing to check here (no GPU on this host, no torch in this interpreter): not a problem."""
    return Finding(Status.NOT_APPLICABLE, reason, evidence or {}, subject=subject)


def unknown(reason: str, evidence: Mapping[str, Any] | None = None, subject: str | None = None) -> Finding:
    """The check could not decide: a fact it needs was not read (say which, and why)."""
    return Finding(Status.UNKNOWN, reason, evidence or {}, subject=subject)


def skip(reason: str, evidence: Mapping[str, Any] | None = None, subject: str | None = None) -> Finding:
    """Deprecated: say ``unknown`` (a fact is missing) or ``not_applicable`` (nothing to check)."""
    return unknown(reason, evidence, subject)


@frozen
class CheckResult:
    """One check's verdict with its findings."""

    id: str
    title: str
    status: Status
    findings: tuple[Finding, ...]
    seconds: float = 0.0
    origin: str = "builtin"

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "findings": [f.to_dict() for f in self.findings],
            "seconds": round(self.seconds, 6),
            "origin": self.origin,
        }


@frozen
class Report:
    """The results of one run and the snapshot they judged."""

    checks: tuple[CheckResult, ...]
    snapshot: Any  # llmdoctor.snapshot.Snapshot
    fail_on: str = "fail"  # one of FAIL_ON
    config_file: str | None = None  # the configuration file the verdicts used (None: none)

    @property
    def config_label(self) -> str:
        """``config: PATH`` or ``config: none``: every report says which configuration decided it."""
        return f"config: {self.config_file or 'none'}"

    @property
    def summary(self) -> dict[str, int]:
        """How many checks ended with each status (not applicable and unknown counted apart)."""
        counts = {s.value: 0 for s in Status}
        for c in self.checks:
            counts[c.status.value] += 1
        return counts

    @property
    def failing_statuses(self) -> frozenset[Status]:
        """The statuses that make the command exit 1 under ``fail_on``."""
        bad = {Status.FAIL}
        if self.fail_on == "warn":
            bad.add(Status.WARN)
        if self.fail_on == "unknown":  # an applicable check that could not run is a failure
            bad.update((Status.UNKNOWN, Status.ERROR))
        return frozenset(bad)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that make the report fail, worst first (then in report order)."""
        bad = self.failing_statuses
        hits = [c for c in self.checks if c.status in bad]
        return tuple(sorted(hits, key=lambda c: -_FAIL_RANK[c.status]))

    @property
    def failed(self) -> bool:
        """Whether the report should make the command exit 1."""
        return bool(self.failures)

    @property
    def errored(self) -> bool:
        """A check raised: llmdoctor could not verify something (exit 3 unless a check failed)."""
        return any(c.status is Status.ERROR for c in self.checks)

    @property
    def unverified(self) -> tuple[CheckResult, ...]:
        """Applicable checks that could not decide (unknown) or could not run (error)."""
        return tuple(c for c in self.checks if c.status in (Status.UNKNOWN, Status.ERROR))

    @property
    def incomplete(self) -> bool:
        """Some applicable check could not decide: an OK is then an OK on what could be read."""
        return bool(self.unverified)

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        if self.errored:
            return 3
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "summary": self.summary,
            "ok": not self.failed,
            "fail_on": self.fail_on,
            "config": self.config_file,
            "checks": [c.to_dict() for c in self.checks],
            "snapshot": self.snapshot.to_dict(),
        }


# Which failing check a summary names first: a failure, then a check that raised, then a warning, then unknown.
_FAIL_RANK = {Status.FAIL: 4, Status.ERROR: 3, Status.WARN: 2, Status.UNKNOWN: 1, Status.PASS: 0,
              Status.NOT_APPLICABLE: 0}
