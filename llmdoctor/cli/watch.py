"""llmdoctor watch: re-run the live health checks every N seconds, rewrite the Prometheus textfile, print changes."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Optional

import typer

from ..engine import UsageError
from . import common, options


# The snapshot parts a round fills (probe_live_health), besides those a snapshot always has.
LIVE_PARTS = frozenset({"driver", "gpus", "gpu_links", "xids", "fabric", "errors", "meta", "probes"})


def round_checks(registry: Any, chosen: list[str]) -> list[Any]:
    """The checks a round runs: those chosen, else the health checks whose needed parts a round probes
    (one that needs the package scan would only say unknown, every round)."""
    from ..engine import select

    if chosen:
        return select(registry, chosen)
    return [s for s in select(registry, ["health"]) if set(s.needs) <= LIVE_PARTS]


def probe_live_health(timeout: float = 10.0, watch_xid: float = 0.0) -> Any:
    """A snapshot with only what the health checks read: NVML (driver, GPUs, links), XIDs and the fabric manager.

    No torch and no package scan: cheap enough to repeat every minute.  Each probe is time-boxed; a probe
    that fails leaves its part unknown with the reason.
    """
    import datetime

    from .. import __version__
    from ..probes import _probe_xids, health_host, nvml
    from ..snapshot import Meta, ProbeResult, Snapshot

    jobs = {"nvml": lambda: nvml.probe_nvml(nvml.load_backend()), "xid": lambda: _probe_xids(watch_xid),
            "fabric": health_host.probe_fabric_manager}
    results: dict[str, Any] = {}
    records = []
    for name, func in jobs.items():
        value, error, seconds = _time_boxed(func, timeout + (watch_xid if name == "xid" else 0.0))
        records.append(ProbeResult(name, error is None, error, round(seconds, 3)))
        if error is None:
            results[name] = value
    driver = gpus = links = None
    if "nvml" in results:
        driver, gpus, links = results["nvml"]
    return Snapshot(meta=Meta(created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                              llmdoctor_version=__version__, source="live", source_detail="watch"),
                    probes=tuple(records), driver=driver, gpus=gpus, gpu_links=links, xids=results.get("xid"),
                    fabric=results.get("fabric"))


def _time_boxed(func: Any, timeout: float) -> tuple[Any, str | None, float]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except Exception as exc:  # a failed probe is data
            box["error"] = str(exc).strip() or type(exc).__name__

    start = time.perf_counter()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.perf_counter() - start
    if thread.is_alive():
        return None, f"timed out after {timeout:.0f}s", seconds
    return box.get("value"), box.get("error"), seconds


def changes(previous: dict[str, str] | None, report: Any) -> list[str]:
    """One line per check whose status changed since the previous round (every check on the first round)."""
    from ..report.vocabulary import headline

    lines = []
    for result in report.checks:
        status = result.status.value
        before = (previous or {}).get(result.id)
        if previous is None or before != status:
            arrow = f"{before} -> {status}" if before else status
            lines.append(f"{result.id}: {arrow}: {headline(result)}")  # the line every renderer leads with
    return lines


def watch(
    every: float = typer.Option(60.0, "--every", help="Seconds between rounds."),
    output: options.Output = None,
    select_: Optional[list[str]] = typer.Option(None, "--select", "-s", help="Check ids or prefixes (default: health)."),
    count: int = typer.Option(0, "--count", help="Stop after this many rounds (0 = run until interrupted)."),
    watch_xid: float = typer.Option(0.0, "--watch-xid", help="Also listen to NVML XID events for this many seconds per round."),
    timeout: options.Timeout = None,
) -> None:
    """Re-run the live health checks every --every seconds; print what changed; rewrite the Prometheus file."""
    from ..engine import load_registry, run_checks
    from ..fixes.writer import WriteRefused, write_artifact
    from ..report.prometheus import render_prometheus
    from . import common

    if every <= 0 or count < 0 or watch_xid < 0:
        raise UsageError("--every must be > 0, --count and --watch-xid >= 0")
    registry = load_registry()
    chosen = common.split_patterns(select_)
    specs = round_checks(registry, chosen)
    previous: dict[str, str] | None = None
    done = 0
    while True:
        report = run_checks(probe_live_health(common.validate_timeout(timeout), watch_xid), specs, registry=registry)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        for line in changes(previous, report):
            sys.stdout.write(f"{stamp} {line}\n")
        sys.stdout.flush()
        previous = {r.id: r.status.value for r in report.checks}
        if output:
            try:
                write_artifact(output, render_prometheus(report), force=True, backup=False)
            except WriteRefused as exc:
                raise UsageError(str(exc)) from None
        done += 1
        if count and done >= count:
            raise typer.Exit(report.exit_code)
        time.sleep(every)
