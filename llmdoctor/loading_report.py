"""The load.* verdicts for a model directory: probe its storage (time-boxed), run the load checks.

Shared by ``llmdoctor fit MODEL --load`` and ``llmdoctor check --model MODEL``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .snapshot import ModelStorage, ProbeResult, Snapshot

PROBE_SECONDS = 10.0


def probe_storage(directory: Path, expected_bytes: int | None, ranks: int | None,
                  timeout: float = PROBE_SECONDS) -> tuple[ModelStorage | None, ProbeResult]:
    from .probes import run_bounded
    from .probes.storage import probe_model_storage

    return run_bounded("model-storage", lambda: probe_model_storage(directory, expected_bytes, ranks), timeout)


def with_storage(snap: Snapshot, storage: ModelStorage | None, record: ProbeResult) -> Snapshot:
    probes = tuple(p for p in snap.probes if p.name != record.name) + (record,)
    return dataclasses.replace(snap, model_storage=storage, probes=probes)


def load_report(snap: Snapshot, ctx_options: dict[str, Any] | None = None) -> Any:
    from .engine import Context, load_registry, run_checks, select

    registry = load_registry()
    return run_checks(snap, select(registry, ["load"]), Context(ctx_options or {}))


def load_terms(storage: ModelStorage | None) -> dict[str, Any] | None:
    """Every term of the estimate, for --json."""
    if storage is None:
        return None
    from .facts import loading

    plan = loading.current_plan(storage)
    return {
        "weight_bytes": loading.weight_bytes(storage), "largest_shard": loading.largest_shard(storage),
        "copies": loading.copies(storage), "readers": loading.readers(storage),
        "throughput_bps": storage.throughput, "throughput_method": storage.throughput_method,
        "copy_rate_bps": storage.copy_rate, "storage_class": storage.storage_class, "fs_type": storage.fs_type,
        "predicted_seconds": round(plan.seconds, 3) if plan else None,
        "read_seconds": round(plan.read_seconds, 3) if plan else None,
        "copy_seconds": round(plan.copy_seconds, 3) if plan else None,
        "alternatives": [{"name": a.name, "seconds": round(a.seconds, 3), "assumes": a.assumes}
                         for a in loading.alternatives(storage)],
    }
