"""Probes: the only code that touches the machine.

``collect()`` runs every probe concurrently, each time-boxed, under one global budget, and returns a
Snapshot.  A probe that fails or runs out of time leaves its part unknown and records why.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..snapshot import Meta, ProbeResult, Snapshot, freeze_mapping
from ..units import fmt_seconds

PROBE_NAMES = ("host", "python", "nvml", "torch", "toolkit", "packages", "env")
# Check inputs (declared as check settings with a flag) that change what is probed: --deep, --watch-xid, --dcgm.
PROBE_INPUTS = ("deep", "watch_xid", "dcgm")


@dataclass
class _Job:
    """One probe run in its own thread under a time box."""

    name: str
    func: Callable[[], Any]
    timeout: float
    thread: threading.Thread | None = None
    result: Any = None
    error: str | None = None
    seconds: float | None = None
    done: bool = False


def _run(job: _Job) -> None:
    start = time.perf_counter()
    try:
        job.result = job.func()
    except Exception as exc:  # a failed probe is data
        job.error = _reason(exc)
    finally:
        job.seconds = time.perf_counter() - start
        job.done = True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


def collect(python: str | None = None, timeout: float = 20.0,
            progress: Callable[[list[str]], None] | None = None, cache: str | None = None, *,
            deep: bool = False, watch_xid: float = 0.0, dcgm: bool = False, inputs: Any = None) -> Snapshot:
    """Probe this machine (and the interpreter ``python``, default: the current one).

    ``cache``: how torch's build facts are cached (use | refresh | off); default from
    ``LLMDOCTOR_TORCH_CACHE`` (use when unset); the installed distributions' metadata is cached alongside.
    What each cache did is recorded as probe ``torch-cache`` / ``packages-cache``.

    ``deep``: run the measured probes (``check --deep``); ``watch_xid``: listen to NVML XID events for
    that many seconds; ``dcgm``: run ``dcgmi diag -r 1``.  Their budgets come on top of ``timeout``.
    ``inputs``: the check inputs given on the command line (``{"deep": True, "watch_xid": 30.0, ...}``);
    the probes take the ones in PROBE_INPUTS and ignore the others.
    """
    given = {k: v for k, v in dict(inputs or {}).items() if k in PROBE_INPUTS and v is not None}
    deep = bool(given.get("deep", deep))
    watch_xid = float(given.get("watch_xid", watch_xid) or 0.0)
    dcgm = bool(given.get("dcgm", dcgm))
    from . import env, health_host, host, nvml, packages, toolkit, torch_probe

    target = python or sys.executable
    budget = max(timeout, 0.5)

    def run_nvml() -> Any:
        return nvml.probe_nvml(nvml.load_backend())

    cache_mode = cache or os.environ.get("LLMDOCTOR_TORCH_CACHE", "use")
    cache_status: list[str] = []

    def run_torch() -> Any:
        facts, status = torch_probe.probe_torch_cached(target, budget, cache_mode)
        cache_status.append(status)
        return facts

    packages_status: list[str] = []

    def run_packages() -> Any:
        data, status = packages.probe_packages_cached(python, budget, cache_mode)
        packages_status.append(status)
        return packages.packages_from_worker(data)

    jobs = [
        _Job("host", host.probe_host, budget),
        _Job("python", lambda: packages.probe_python(python, budget), budget),
        _Job("nvml", run_nvml, min(budget, 10.0)),
        _Job("torch", run_torch, budget),
        _Job("toolkit", lambda: toolkit.probe_toolkit(timeout=min(budget, 10.0)), budget),
        _Job("packages", run_packages, budget),
        _Job("env", env.probe_env, budget),
        _Job("xid", lambda: _probe_xids(watch_xid), min(budget, 10.0) + max(watch_xid, 0.0)),
        _Job("fabric", health_host.probe_fabric_manager, min(budget, 10.0)),
    ]
    if dcgm:
        jobs.append(_Job("dcgm", lambda: health_host.probe_dcgm(timeout=180.0), 185.0))
    if deep:
        from . import deep as deep_probe

        jobs.append(_Job("deep", lambda: deep_probe.probe_deep(target, deep_probe.DEEP_BUDGET),
                         deep_probe.DEEP_BUDGET + 15.0))
    _run_all(jobs, progress)
    results, records = _results_and_records(jobs)
    if cache_status:
        records.append(ProbeResult("torch-cache", cache_status[0] == "hit", cache_status[0], None))
    if packages_status:
        records.append(ProbeResult("packages-cache", packages_status[0] == "hit", packages_status[0], None))

    host_result = results.get("host")
    driver, gpus, links = _nvml_facts(results.get("nvml"), host_result, jobs)
    from .. import __version__
    from ..redact import redact_snapshot

    snapshot: Snapshot = redact_snapshot(Snapshot(
        meta=Meta(
            created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            llmdoctor_version=__version__,
            source="live",
        ),
        probes=tuple(records),
        host=host_result,
        python=results.get("python"),
        driver=driver,
        gpus=gpus,
        gpu_links=links,
        torch=results.get("torch"),
        toolkit=results.get("toolkit"),
        packages=results.get("packages"),
        env=freeze_mapping(results["env"]) if "env" in results else None,
        xids=results.get("xid"),
        fabric=results.get("fabric"),
        dcgm=results.get("dcgm"),
        deep=results.get("deep"),
    ))
    return snapshot


def _run_all(jobs: list[_Job], progress: Callable[[list[str]], None] | None) -> None:
    """Start every job in its own thread; return when all are done or every pending one is past its time."""
    started = time.monotonic()
    for job in jobs:
        # daemon threads: a hung NVML call cannot keep the process alive after we give up on it
        job.thread = threading.Thread(target=_run, args=(job,), name=f"probe-{job.name}", daemon=True)
        job.thread.start()
    while True:
        pending = [j for j in jobs if not j.done]
        if progress is not None:
            progress([j.name for j in pending])
        if not pending:
            break
        now = time.monotonic() - started
        expired = [j for j in pending if now >= j.timeout]
        if len(expired) == len(pending):
            break
        pending[0].thread.join(timeout=0.05)  # type: ignore[union-attr]


def _results_and_records(jobs: list[_Job]) -> tuple[dict[str, Any], list[ProbeResult]]:
    """The results of the jobs that succeeded, by name, and one record per job."""
    results: dict[str, Any] = {}
    records = []
    for job in jobs:
        if not job.done:
            records.append(ProbeResult(job.name, False, f"{job.name} probe timed out after {fmt_seconds(job.timeout)}", None))
        elif job.error is not None:
            records.append(ProbeResult(job.name, False, job.error, round(job.seconds or 0, 3)))
        else:
            records.append(ProbeResult(job.name, True, None, round(job.seconds or 0, 3)))
            results[job.name] = job.result
    return results, records


def _nvml_facts(nvml_result: Any, host_result: Any, jobs: list[_Job]) -> tuple[Any, Any, Any]:
    """(driver, gpus, links) from NVML; gpus is () when we know there are none."""
    driver = gpus = links = None
    if nvml_result is not None:
        driver, gpus, links = nvml_result
    else:
        nvml_job = next(j for j in jobs if j.name == "nvml")
        # NVML absent (no driver) and no NVIDIA device on the PCI bus: we know there are no GPUs.
        no_library = nvml_job.done and nvml_job.error and "libnvidia-ml.so" in nvml_job.error
        if no_library and host_result is not None and host_result.nvidia_pci_devices == 0:
            gpus = ()
    return driver, gpus, links


def run_bounded(name: str, func: Callable[[], Any], timeout: float) -> tuple[Any, ProbeResult]:
    """One extra probe (``func``) under its own time box: (its result or None, its record)."""
    job = _Job(name, func, timeout)
    job.thread = threading.Thread(target=_run, args=(job,), name=f"probe-{name}", daemon=True)
    job.thread.start()
    job.thread.join(timeout)
    if not job.done:
        return None, ProbeResult(name, False, f"{name} probe timed out after {timeout:g} s", None)
    if job.error is not None:
        return None, ProbeResult(name, False, job.error, round(job.seconds or 0, 3))
    return job.result, ProbeResult(name, True, None, round(job.seconds or 0, 3))


def _probe_xids(watch_seconds: float) -> Any:
    """XIDs from the kernel log, plus NVML's XID events while watching (``--watch-xid SECONDS``)."""
    from . import health_host, nvml

    logs = [health_host.probe_kernel_xids()]
    if watch_seconds > 0:
        try:
            logs.append(nvml.watch_xids(nvml.load_backend(), watch_seconds))
        except Exception as exc:  # no NVML binding at all
            from ..snapshot import XidLog

            logs.append(XidLog(unread=(f"NVML events: {exc}",)))
    return health_host.merge_xid_logs(*logs)
