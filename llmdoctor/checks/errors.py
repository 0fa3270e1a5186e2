"""Known error messages whose own check is missing or cannot run on this snapshot."""

from __future__ import annotations

from ..engine import Context, check, load_registry
from ..results import skip
from ..snapshot import Snapshot
from ..facts import known_error_findings as E
from ..facts import derived as F


@check("errors.known", "Error messages seen are known failures", needs=())
def check_known_errors(snap: Snapshot, ctx: Context):
    """Are the error and warning texts seen (in a pasted dump, or torch's own) known failures?

    llmdoctor keeps a table of the error messages users hit most (data/error_patterns.json, from the
    failure catalog): "found version 11040", "no kernel image is available", "sm_120 is not compatible",
    CUDA errors 802/803/804, "Driver/library version mismatch", xformers "built for" another torch, NCCL
    "unhandled system error" and /dev/shm failures, KV cache smaller than max_model_len, and more.  Each
    row names its root cause, the fix, its sources and the check it belongs to.

    A recognised error is reported by the check it belongs to (`cuda.driver` fails on "found version
    11040" even when the dump was cut before the driver line).  This check reports the others: errors
    whose check is not part of this llmdoctor, or cannot run because the snapshot lacks what it needs,
    naming that check.  Status comes from the table: fail when the message proves the failure (a driver
    too old, /dev/shm too small), warn when the environment may be fine (out of memory depends on the run).

    Fix: the remedy of each finding; `llmdoctor explain-error TEXT` prints the diagnosis of one message.

    Sources: shared/reference/failure_catalog.md (entries A1-K2) and the issues each row cites.
    """
    texts = F.error_texts(snap)
    if not texts:
        return skip("no error or warning texts in the input")
    matches = E.matches_for(snap)
    if not matches:
        return skip(f"{len(texts)} error/warning text(s) seen; none is a known failure message "
                    f"(see data/error_patterns.json)")
    registry = load_registry()
    findings = []
    for match in matches:
        owner = match.error.check
        if owner == "errors.known":
            findings.append(E.finding_for(match, snap))
            continue
        spec = registry.get(owner)
        if spec is None:
            findings.append(E.finding_for(match, snap, f"(This belongs to check {owner}, not available here.)"))
            continue
        missing = [p for p in spec.needs if getattr(snap, p, None) is None]
        if missing:
            findings.append(E.finding_for(match, snap, f"(This belongs to check {owner}, which cannot run: "
                                                       f"{'; '.join(snap.unknown_reason(p) for p in missing)}.)"))
        elif not spec.known_errors:
            findings.append(E.finding_for(match, snap, f"(This belongs to check {owner}.)"))
    if not findings:
        return skip(f"{len(matches)} known error(s) seen, each reported by the check it belongs to")
    return findings
