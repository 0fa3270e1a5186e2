"""Known error messages whose own check is missing or cannot run, and errors llmdoctor does not know."""

from __future__ import annotations

from ..engine import CheckSpec, Context, check, load_registry
from ..facts import derived as F
from ..facts import known_error_findings as E
from ..facts.known_errors import Match
from ..results import Finding, Remedy, Status, unknown
from ..snapshot import Snapshot

_ON_THE_MACHINE = ("llmdoctor check", "llmdoctor snapshot -o snapshot.json")


@check("errors.known", "Error messages seen are known failures", needs=())
def check_known_errors(snap: Snapshot, ctx: Context) -> Finding | list[Finding]:
    """Are the error and warning texts seen (in a pasted dump, or torch's own) known failures?

    llmdoctor keeps a knowledge base of the error messages users hit (data/error_patterns.json and
    data/error_kb.json, each entry from a public report): "found version 11040", "no kernel image is
    available", "sm_120 is not compatible", CUDA errors 802/803/804, "Driver/library version mismatch",
    NCCL bootstrap, InfiniBand and /dev/shm failures, cuDNN loader errors, flash-attn/xformers ABI errors,
    CUDA out of memory, and more.  Each entry has llmdoctor's own code (LD-CUDA-001, ...), its root
    cause, the fix as commands, its sources and the check it belongs to (`llmdoctor explain-error --list`).

    A recognised error is reported by the check it belongs to (`cuda.driver` fails on "found version
    11040" even when the dump was cut before the driver line).  This check reports the others: errors
    whose check is not part of this llmdoctor, or cannot run because the snapshot lacks what it needs,
    naming that check.  An error the user hit is a FAIL (it happened); entries whose environment may be
    fine (out of memory depends on the run) warn.

    An error text that no entry recognises is not dismissed: this check warns that it is unknown, lists
    the facts it could still read from the input (versions, GPU names, paths) and points to `llmdoctor
    check` on the machine itself, which reads what a pasted text cannot state.

    Fix: the remedy of each finding; `llmdoctor explain-error TEXT` prints the diagnosis of one message.

    Sources: the public issues each knowledge-base entry cites (`llmdoctor explain-error --list`).
    """
    texts = F.error_texts(snap)
    if not texts:
        return unknown("no error or warning texts in the input")
    matches = E.matches_for(snap)
    if not matches:
        return _unrecognised(snap, texts)
    registry = load_registry()
    findings = [f for f in (_orphan(m, snap, registry.get(m.error.check)) for m in matches) if f is not None]
    if not findings:
        return unknown(f"{len(matches)} known error(s) seen ({', '.join(m.error.code for m in matches[:6])}), "
                      f"each reported by the check it belongs to")
    return findings


def _orphan(match: Match, snap: Snapshot, spec: CheckSpec | None) -> Finding | None:
    """The finding for an error whose owning check is not part of this llmdoctor; None when the owner reports it
    (the engine gives every check the known errors that name it, even when the check cannot run)."""
    owner = match.error.check
    if owner == "errors.known":
        return E.finding_for(match, snap)
    if spec is None:
        return E.finding_for(match, snap, f"(This belongs to check {owner}, not available here.)")
    return None


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
