"""Fragmentation analysis of a torch.cuda.memory._dump_snapshot() pickle, without executing anything from it.

``safe_load`` is a restricted unpickler: it builds only dict, list, tuple, str, bytes, int, float, bool
and None.  Any global (a class, a function such as os.system), persistent id or extension code is
refused before it is looked up, so a hostile file cannot run code.  The analysis is pure.
"""

from __future__ import annotations


import io
import pickle
from typing import Any

from ..engine import UsageError
from ..units import format_bytes

MAX_SNAPSHOT_BYTES = 2 * 2**30
ALLOWED = (dict, list, tuple, str, bytes, int, float, bool, type(None))
PENDING = ("active_pending_free", "active_awaiting_free")
GiB, MiB = 2**30, 2**20


class UnsafePickle(UsageError):
    """The file asks to build something other than plain data."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D401
        raise UnsafePickle(f"refusing to load {module}.{name}: a memory snapshot holds only plain data "
                           f"(dict, list, tuple, str, bytes, int, float, bool, None); this file is not a "
                           f"torch.cuda.memory._dump_snapshot() pickle, or it was tampered with")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("refusing a pickle with persistent ids: not a plain memory snapshot")


MAX_VISITS = 5_000_000
MAX_NUMBER = 2**64
MAX_SECONDS = 20.0


def _check_types(obj: Any, depth: int = 0) -> None:
    """Only plain data, no cycle (a self-referencing list or dict), a bounded number of visits and a
    bounded time; a shared container (pickle's memo) is walked once, so a reference bomb costs its size."""
    import time

    deadline = time.monotonic() + MAX_SECONDS
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(obj, False)]
    visits = 0
    while stack:
        x, leaving = stack.pop()
        if leaving:
            on_path.discard(id(x))
            done.add(id(x))
            continue
        visits += 1
        if visits > MAX_VISITS or (visits % 65536 == 0 and time.monotonic() > deadline):
            raise UnsafePickle(f"refusing the snapshot: more than {MAX_VISITS:,} objects or {MAX_SECONDS:g} s to check")
        if not isinstance(x, ALLOWED) or type(x) not in ALLOWED:
            raise UnsafePickle(f"refusing a {type(x).__name__} in the snapshot: only plain data is allowed")
        if isinstance(x, (int, float)) and not isinstance(x, bool) and not abs(x) < MAX_NUMBER:
            raise UnsafePickle(f"refusing a number out of range ({'inf/nan' if isinstance(x, float) else 'over 2**64'}): "
                               "a memory snapshot's sizes and addresses are 64-bit")
        if not isinstance(x, (dict, list, tuple)):
            continue
        if id(x) in on_path:
            raise UnsafePickle("refusing a self-referencing structure: a memory snapshot holds no cycles")
        if id(x) in done:
            continue
        on_path.add(id(x))
        stack.append((x, True))
        children = [*x.keys(), *x.values()] if isinstance(x, dict) else x
        stack.extend((c, False) for c in children)


def safe_load(raw: bytes) -> Any:
    try:
        obj = _Restricted(io.BytesIO(raw)).load()
    except UnsafePickle:
        raise
    except Exception as exc:  # truncated / not a pickle
        raise UsageError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    _check_types(obj)
    return obj


def _segments(snap: Any) -> list[dict[str, Any]]:
    if isinstance(snap, list):  # the older format: a bare list of segments
        return [s for s in snap if isinstance(s, dict)]
    if isinstance(snap, dict) and isinstance(snap.get("segments"), list):
        return [s for s in snap["segments"] if isinstance(s, dict)]
    raise UsageError("not a torch memory snapshot: no 'segments' list (write it with torch.cuda.memory._dump_snapshot())")


def _num(x: Any) -> int:
    return int(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def _site(frames: Any) -> str:
    if not isinstance(frames, list):
        return "?"
    for fr in frames:  # first frame that is not inside torch itself
        if isinstance(fr, dict):
            fn = str(fr.get("filename", "?"))
            if "/torch/" not in fn and not fn.startswith("??"):
                return f"{fn}:{fr.get('line', '?')} ({fr.get('name', '?')})"
    if frames and isinstance(frames[0], dict):
        fr = frames[0]
        return f"{fr.get('filename', '?')}:{fr.get('line', '?')} ({fr.get('name', '?')})"
    return "?"


BUCKETS = [(0, "< 1 MiB"), (MiB, "1–2 MiB"), (2 * MiB, "2–20 MiB"), (20 * MiB, "20–128 MiB"),
           (128 * MiB, "128 MiB–1 GiB"), (GiB, ">= 1 GiB")]


def analyze(snap: Any, top: int = 10, torch_version: str | None = None) -> dict[str, Any]:
    """Reserved vs allocated, fragmentation, largest free block vs the failed allocation, sites, histogram."""
    segs = _segments(snap)
    reserved = allocated = active = pending = inactive_split = 0
    largest_free = 0
    free_sizes: list[int] = []
    sites: dict[str, list[int]] = {}
    by_device: dict[int, dict[str, int]] = {}
    counts = {"large": 0, "small": 0, "expandable": 0}
    for s in segs:
        total = _num(s.get("total_size"))
        reserved += total
        dev = _num(s.get("device"))
        d = by_device.setdefault(dev, {"reserved": 0, "allocated": 0, "segments": 0})
        d["reserved"] += total
        d["segments"] += 1
        counts["large" if s.get("segment_type", "large") == "large" else "small"] += 1
        if s.get("is_expandable"):
            counts["expandable"] += 1
        raw_blocks = s.get("blocks")
        blocks = [b for b in raw_blocks if isinstance(b, dict)] if isinstance(raw_blocks, list) else []
        has_active = any(str(b.get("state", "")).startswith("active") for b in blocks)
        for b in blocks:
            size = _num(b.get("size"))
            state = b.get("state")
            if state == "active_allocated":
                allocated += size
                d["allocated"] += size
                active += size
                key = _site(b.get("frames"))
                agg = sites.setdefault(key, [0, 0])
                agg[0] += size
                agg[1] += 1
            elif state in PENDING:
                pending += size
                active += size
            elif state == "inactive":
                free_sizes.append(size)
                largest_free = max(largest_free, size)
                if has_active:
                    inactive_split += size
    # the OOM, when the trace holds one
    oom = None
    traces = snap.get("device_traces") if isinstance(snap, dict) else None
    if isinstance(traces, list):
        for dev, trace in enumerate(traces):
            if not isinstance(trace, list):
                continue
            for entry in trace:
                if isinstance(entry, dict) and entry.get("action") == "oom":
                    oom = {"device": dev, "requested": _num(entry.get("size")),
                           "device_free": _num(entry.get("device_free")), "site": _site(entry.get("frames"))}
    hist = []
    for i, (lo, label) in enumerate(BUCKETS):
        hi = BUCKETS[i + 1][0] if i + 1 < len(BUCKETS) else None
        n = [x for x in free_sizes if x >= lo and (hi is None or x < hi)]
        hist.append({"range": label, "blocks": len(n), "bytes": sum(n)})
    ranked = sorted(sites.items(), key=lambda kv: kv[1][0], reverse=True)[:top]
    result = {
        "segments": len(segs), "segment_counts": counts, "reserved": reserved, "allocated": allocated,
        "active": active, "pending_free": pending, "cached_free": reserved - active,
        "inactive_split": inactive_split,
        "fragmentation": (inactive_split / reserved) if reserved else 0.0,
        "largest_free_block": largest_free, "free_blocks": len(free_sizes), "histogram": hist,
        "top_sites": [{"site": k, "bytes": v[0], "allocations": v[1]} for k, v in ranked],
        "devices": {str(k): v for k, v in sorted(by_device.items())}, "oom": oom,
        "allocator_settings": snap.get("allocator_settings") if isinstance(snap, dict) else None,
    }
    result["torch_version"] = torch_version
    result["recommendations"] = recommendations(result)
    return result


def recommendations(r: dict[str, Any]) -> list[str]:
    out = []
    frag = r["fragmentation"]
    oom = r["oom"]
    expandable = r["segment_counts"]["expandable"] > 0
    if oom and oom["requested"] and r["cached_free"] >= oom["requested"] > r["largest_free_block"]:
        out.append(f"The failed allocation ({format_bytes(oom['requested'], unit='MiB', decimals=0)}) is smaller than the cached free memory "
                   f"({format_bytes(r['cached_free'], unit='MiB', decimals=0)}) but larger than the largest free block "
                   f"({format_bytes(r['largest_free_block'], unit='MiB', decimals=0)}): this OOM is fragmentation.")
    if frag > 0.1 or (oom and r["cached_free"] > 0.1 * max(r["reserved"], 1)):
        if not expandable:
            from .allocconf import expandable_setting

            out.append(f"Set {expandable_setting(r.get('torch_version'))}: segments grow in place instead of "
                       "splitting, which removes most of this fragmentation.")
        out.append("Or cap block splitting: max_split_size_mb:<size> (>= 20), a bit above your largest common "
                   "tensor, so big blocks are not split into unusable pieces.")
        out.append("Call torch.cuda.empty_cache() between phases with different shapes (releases unsplit cached segments).")
    if r["pending_free"] > 0.05 * max(r["reserved"], 1):
        out.append("Much memory awaits free on other streams (record_stream / async collectives): synchronize, or "
                   "avoid tensor.record_stream on large buffers.")
    if not out:
        out.append("Fragmentation is low: an OOM here means the job needs more memory (smaller batch or context, "
                   "activation checkpointing, quantization), not allocator tuning.")
    return out


def analyze_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The same headline numbers from torch.cuda.memory_stats() (in-job report)."""
    def g(k: str) -> int:
        return _num(stats.get(k))

    reserved = g("reserved_bytes.all.current")
    r: dict[str, Any] = {
        "reserved": reserved, "allocated": g("allocated_bytes.all.current"), "active": g("active_bytes.all.current"),
        "inactive_split": g("inactive_split_bytes.all.current"), "peak_allocated": g("allocated_bytes.all.peak"),
        "peak_reserved": g("reserved_bytes.all.peak"), "alloc_retries": g("num_alloc_retries"), "ooms": g("num_ooms"),
        "segments": g("segment.all.current"),
    }
    r["fragmentation"] = r["inactive_split"] / reserved if reserved else 0.0
    r["cached_free"] = reserved - r["active"]
    return r


def render_text(r: dict[str, Any]) -> str:
    lines = [
        f"segments        {r['segments']} ({r['segment_counts']['large']} large, {r['segment_counts']['small']} small"
        + (f", {r['segment_counts']['expandable']} expandable" if r['segment_counts']['expandable'] else "") + ")",
        f"reserved        {format_bytes(r['reserved'], unit='MiB')}",
        f"allocated       {format_bytes(r['allocated'], unit='MiB')}",
        f"pending free    {format_bytes(r['pending_free'], unit='MiB')}",
        f"cached free     {format_bytes(r['cached_free'], unit='MiB')}",
        f"inactive split  {format_bytes(r['inactive_split'], unit='MiB')}  (fragmentation {r['fragmentation']:.1%} of reserved)",
        f"largest free    {format_bytes(r['largest_free_block'], unit='MiB')} in {r['free_blocks']} free block(s)",
    ]
    if r["oom"]:
        o = r["oom"]
        lines.append(f"out of memory   device {o['device']}: asked {format_bytes(o['requested'], unit='MiB')}, CUDA had {format_bytes(o['device_free'], unit='MiB')} free, "
                     f"largest cached block {format_bytes(r['largest_free_block'], unit='MiB')} (at {o['site']})")
    lines.append("free blocks by size:")
    for h in r["histogram"]:
        if h["blocks"]:
            lines.append(f"  {h['range']:<14} {h['blocks']:>6} block(s)  {format_bytes(h['bytes'], unit='MiB')}")
    if r["top_sites"]:
        lines.append("top allocation sites:")
        for s in r["top_sites"]:
            lines.append(f"  {format_bytes(s['bytes'], unit='MiB'):>14}  {s['allocations']:>5}x  {s['site']}")
    lines.append("recommendations:")
    lines.extend(f"  - {t}" for t in r["recommendations"])
    return "\n".join(lines) + "\n"
