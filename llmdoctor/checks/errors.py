"""Known error messages whose own check is missing or cannot run, and errors llmdoctor does not know."""

from __future__ import annotations

from ..engine import check
from ..facts import derived as F
from ..facts import known_error_findings as E
from ..facts.known_errors import TRIAGE_CHECK, Match
from ..results import Finding, Remedy, Status, not_applicable, unknown
from ..snapshot import Snapshot

_ON_THE_MACHINE = ("llmdoctor check", "llmdoctor snapshot -o snapshot.json")


@check(TRIAGE_CHECK, "Error messages seen are known failures", known_errors=True)
def check_known_errors(snapshot: Snapshot, checks_run: frozenset[str]) -> Finding | list[Finding]:
    """Are the error and warning texts seen (in a pasted dump, or torch's own) known failures?

    llmdoctor keeps a knowledge base of the error messages users hit (data/error_patterns.json and
    data/error_kb.json, each entry from a public report): "found version 11040", "no kernel image is
    available", "sm_120 is not compatible", CUDA errors 802/803/804, "Driver/library version mismatch",
    NCCL bootstrap, InfiniBand and /dev/shm failures, cuDNN loader errors, flash-attn/xformers ABI errors,
    CUDA out of memory, and more.  Each entry has llmdoctor's own code (LD-CUDA-001, ...), its root
    cause, the fix as commands, its sources and the check it belongs to (`llmdoctor explain-error --list`).

    A recognised error is reported by the check it belongs to (`cuda.driver` fails on "found version
    11040" even when the dump was cut before the driver line, or cannot run because the snapshot lacks
    what it needs).  This check reports the others, naming the check each belongs to: errors whose check
    is not part of this run (`--select`/`--ignore` left it out), so that no error the input shows goes
    unreported.  An error the user hit is a FAIL (it happened); entries whose environment may be fine
    (out of memory depends on the run) warn.

    An error text that no entry recognises is not dismissed: this check warns that it is unknown, lists
    the facts it could still read from the input (versions, GPU names, paths) and points to `llmdoctor
    check` on the machine itself, which reads what a pasted text cannot state.

    Fix: the remedy of each finding; `llmdoctor explain-error TEXT` prints the diagnosis of one message.

    Sources: the public issues each knowledge-base entry cites (`llmdoctor explain-error --list`).
    """
    texts = F.error_texts(snapshot)
    if not texts:
        return not_applicable("no error or warning texts were seen: nothing to triage")
    matches = E.matches_for(snapshot)
    if not matches:
        return _unrecognised(snapshot, texts)
    findings = [f for f in (_orphan(m, snapshot, checks_run) for m in matches) if f is not None]
    if not findings:
        return unknown(f"{len(matches)} known error(s) seen ({', '.join(m.error.code for m in matches[:6])}), "
                      f"each reported by the check it belongs to")
    return findings


def _orphan(match: Match, snap: Snapshot, checks_run: frozenset[str]) -> Finding | None:
    """The finding for an error whose owning check is not in this run; None when the owner reports it
    (the engine gives every check the known errors that name it, even when the check cannot run)."""
    owner = match.error.check
    if owner == TRIAGE_CHECK:
        return E.finding_for(match, snap)
    if owner in checks_run:
        return None
    return E.finding_for(match, snap, f"(This belongs to check {owner}, which is not part of this run.)")


def _unrecognised(snap: Snapshot, texts: list[str]) -> Finding:
    facts = E.stated_facts(snap)
    shown = "; ".join(f"{k}: {v}" for k, v in facts.items()) or "none"
    excerpt = texts[-1] if len(texts[-1]) <= 300 else texts[-1][:297] + "..."
    message = (f"{len(texts)} error/warning text(s) seen, none of them a failure llmdoctor knows "
               f"(last: {excerpt!r}). Facts the input states: {shown}. Run 'llmdoctor check' on the machine "
               f"itself: it reads the driver, GPUs, libraries and settings a pasted text does not state.")
    remedy = Remedy("Run llmdoctor on the machine where the error happened, and attach its report.",
                    commands=_ON_THE_MACHINE)
    return Finding(Status.WARN, message, {"errors": texts[-5:], "facts": facts, "recognised": False}, remedy)
