"""llmdoctor snapshot: save what the probes (or a dump) found, as JSON."""

from __future__ import annotations

from . import common, options


def snapshot(output: options.Output = None, force: options.Force = False, from_: options.From = None,
             python: options.Python = None, timeout: options.Timeout = None,
             anonymize: options.Anonymize = False, refresh: options.Refresh = False,
             no_cache: options.NoCache = False) -> None:
    """Print (or save) the snapshot of this machine: the facts every check works from."""
    common.refuse_existing(output, force)  # before probing: a refusal must not cost the probes' time
    snap = common.load_or_probe(from_, python, timeout, cache=options.cache_mode(refresh, no_cache))
    text = snap.to_json() + "\n"
    if anonymize:
        from ..anonymize import anonymize_for

        text = anonymize_for(snap)(text)
    common.emit(text, output, force)
