"""Findings, check results and the report: plain data, no rendering, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

REPORT_SCHEMA = "llmdoctor.report/1"


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


@dataclass(frozen=True)
class Finding:
    """One observation of a check: the fact and its consequence, the raw evidence, what to do.

    message: one sentence, fact and consequence ("Driver 470.82 supports CUDA <= 11.4, but ...").
    evidence: the raw values behind it.
    remedy: the action, with commands where possible.
    fix: id of a `llmdoctor fix` that produces the remedy, when there is one.
    subject: what the finding is about when a check looks at several things ("GPU 0").
    """

    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remedy: str | None = None
    fix: str | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message": self.message,
            "evidence": dict(self.evidence),
            "remedy": self.remedy,
            "fix": self.fix,
            "subject": self.subject,
        }


def passed(message: str, evidence: Mapping[str, Any] | None = None, subject: str | None = None) -> Finding:
    return Finding(Status.PASS, message, evidence or {}, subject=subject)


def warn(message: str, evidence: Mapping[str, Any] | None = None, remedy: str | None = None,
         fix: str | None = None, subject: str | None = None) -> Finding:
    return Finding(Status.WARN, message, evidence or {}, remedy, fix, subject)


def fail(message: str, evidence: Mapping[str, Any] | None = None, remedy: str | None = None,
         fix: str | None = None, subject: str | None = None) -> Finding:
    return Finding(Status.FAIL, message, evidence or {}, remedy, fix, subject)


def skip(reason: str, evidence: Mapping[str, Any] | None = None, subject: str | None = None) -> Finding:
    return Finding(Status.SKIP, reason, evidence or {}, subject=subject)


@dataclass(frozen=True)
class CheckResult:
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


@dataclass(frozen=True)
class Report:
    checks: tuple[CheckResult, ...]
    snapshot: Any  # llmdoctor.snapshot.Snapshot
    fail_on: str = "fail"  # "fail" | "warn"

    @property
    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for c in self.checks:
            counts[c.status.value] += 1
        return counts

    @property
    def failed(self) -> bool:
        """Whether the report should make the command exit 1."""
        bad = {Status.FAIL}
        if self.fail_on == "warn":
            bad.add(Status.WARN)
        return any(c.status in bad for c in self.checks)

    @property
    def errored(self) -> bool:
        """A check raised: llmdoctor could not verify something (exit 3 unless a check failed)."""
        return any(c.status is Status.ERROR for c in self.checks)

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
            "checks": [c.to_dict() for c in self.checks],
            "snapshot": self.snapshot.to_dict(),
        }
