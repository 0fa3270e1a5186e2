"""Options of ``llmdoctor cluster`` / ``python -m llmdoctor.cluster``, the --from mode and the rendering.

This module never imports torch: ``--from DIR`` runs entirely here; a live run hands over to ``runner``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ..engine import UsageError
from .model import NODE_SCHEMA, Cluster, NodeSnapshot

FORMATS = ("rich", "plain", "json", "markdown", "junit", "github", "prometheus")
_SIZE = re.compile(r"^(\d+)([KMG]i?B?|B)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise UsageError(f"size {text!r}: use bytes or a suffix (1M, 64MiB, 1G)")
    unit = (m.group(2) or "B")[0].upper()
    return int(m.group(1)) * {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30}[unit]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from .registry import setting_flags

    p = _Parser(prog="llmdoctor cluster", description=(
        "Every node and rank of a distributed job in one report. Run it under the launcher: "
        "torchrun --nnodes N --nproc-per-node G -m llmdoctor.cluster (or srun / mpirun / a PyTorchJob), "
        "or aggregate node snapshots with --from DIR."))
    add = p.add_argument
    add("--from", dest="from_", metavar="DIR", help="Aggregate node snapshots (one JSON per node) from DIR; no torch.")
    add("--expect", metavar="GOLDEN", help="Compare every node with this golden snapshot (cluster.expect).")
    add("--format", "-f", dest="fmt", choices=FORMATS, help="Report format (default: rich on a terminal, plain otherwise).")
    add("--json", action="store_true", help="Same as --format json.")
    add("--output", "-o", help="Write the report (or the drain script) to FILE instead of stdout.")
    add("--force", action="store_true", help="Replace FILE if it exists.")
    add("--verbose", "-v", action="store_true", help="Show evidence for every check.")
    add("--select", "-s", action="append", default=[], help="Only these per-node check ids or prefixes.")
    add("--ignore", "-i", action="append", default=[], help="Skip these per-node check ids or prefixes.")
    add("--config", help="Read this configuration file instead of searching for llmdoctor.toml / pyproject.toml.")
    add("--fail-on", choices=("fail", "warn"), default=None, help="Exit 1 on 'fail' (default) or also on 'warn'.")
    add("--timeout", type=float, default=60.0, help="Seconds rank 0 waits for every rank (default 60).")
    add("--probe-timeout", type=float, default=20.0, help="Probing budget per node in seconds (default 20).")
    add("--bandwidth", action="store_true", help="Measure all-reduce bandwidth (sweep --min-size..--max-size).")
    add("--min-size", type=parse_size, default=2**20, help="Smallest all-reduce size (default 1M).")
    add("--max-size", type=parse_size, default=None, help="Largest all-reduce size (default 1G on GPU, 16M on CPU).")
    add("--iters", type=int, default=None, help="Timed iterations per size (default 20 on GPU, 3 on CPU).")
    add("--warmup", type=int, default=None, help="Warm-up iterations per size (default 5 on GPU, 1 on CPU).")
    add("--stragglers", action="store_true", help="Time the same matmul and all-reduce on every rank.")
    add("--drain-script", choices=("slurm", "k8s"), help="Print the commands that drain failing nodes (dry run) "
                                                         "instead of the report.")
    add("--save", metavar="DIR", help="Also write one JSON per node into DIR (what --from reads).")
    add("--list-checks", action="store_true", help="List the cross-node checks (cluster.*) and exit.")
    add("--explain", metavar="ID", help="Explain a cross-node check (what, why, how to fix, sources) and exit.")
    for flag, (key, setting) in setting_flags().items():
        add(flag, dest=f"setting:{key}", type=setting.type, default=None, metavar=setting.type.__name__.upper(), help=f"{setting.help} (default {setting.default}).")
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    opts = build_parser().parse_args(list(argv))
    if opts.json:
        if opts.fmt not in (None, "json"):
            raise UsageError("--json and --format disagree")
        opts.fmt = "json"
    if not 0 < opts.timeout <= 3600:
        raise UsageError(f"--timeout {opts.timeout}: must be between 0 and 3600 seconds")
    return opts


def cluster_options(opts: argparse.Namespace) -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in vars(opts).items() if k.startswith("setting:") and v is not None}


# --------------------------------------------------------------------------- --from DIR


def read_node_file(path: Path) -> NodeSnapshot:
    """One node from a JSON file: a cluster node file, a snapshot, or a report (its snapshot)."""
    from ..inputs import snapshot_from_json
    from ..snapshot import SnapshotError

    from ..boundedio import load_json, read_file

    text = read_file(path, what="node snapshot").decode("utf-8", errors="replace")
    data = load_json(text, str(path), "node snapshot JSON")
    if isinstance(data, dict) and data.get("schema") == NODE_SCHEMA:
        try:
            return NodeSnapshot.from_dict(data)
        except (SnapshotError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: invalid node file: {exc}") from None
    snap = snapshot_from_json(text, str(path))
    if snap is None:
        raise UsageError(f"{path}: not an llmdoctor snapshot, report or cluster node file")
    name = (snap.host.hostname if snap.host and snap.host.hostname else None) or path.stem
    return NodeSnapshot(name=name, snapshot=snap)


def read_dir(directory: str) -> tuple[NodeSnapshot, ...]:
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"--from {directory}: not a directory")
    files = sorted(root.glob("*.json"))
    if not files:
        raise UsageError(f"--from {directory}: no *.json node snapshots in it")
    nodes, seen = [], set()
    for path in files:
        node = read_node_file(path)
        if node.name in seen:  # two files from one host name: keep both, told apart by file name
            node = NodeSnapshot(f"{node.name}[{path.stem}]", node.snapshot, node.ranks, node.error)
        seen.add(node.name)
        nodes.append(node)
    return tuple(nodes)


def load_golden(path: str | None) -> Any:
    if path is None:
        return None
    from ..inputs import load_snapshot

    return load_snapshot(path)


def save_nodes(cluster: Cluster, directory: str) -> None:
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name) or "node"
        (root / f"{safe}.json").write_text(json.dumps(node.to_dict(), indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- report


def report_for(cluster: Cluster, opts: argparse.Namespace, rank0_node: str | None = None) -> Any:
    import dataclasses

    from ..config import load_config, prune_unconfigured_expectations, require_some
    from ..engine import Context, load_registry, select
    from .aggregate import build_report

    import gc

    # The node snapshots live until the process ends: keep them out of the cyclic collector's full passes,
    # whose cost grows with the live heap (what made 1,024 nodes 1.3x slower per node than 128).
    gc.freeze()
    registry = load_registry()
    config = load_config(opts.config, registry).override(_split(opts.select), _split(opts.ignore), opts.fail_on)
    specs = select(registry, config.select.value, config.ignore.value)
    specs = prune_unconfigured_expectations(specs, config, config.select.value)
    require_some(specs, config)
    report = build_report(cluster, specs, Context(options=config.options()), cluster_options(opts),
                          fail_on=config.fail_on.value, rank0_node=rank0_node)
    return dataclasses.replace(report, config_file=str(config.path) if config.path else None)


def _split(values: Sequence[str]) -> list[str]:
    return [p for v in values for p in v.split(",") if p.strip()]


def emit(report: Any, opts: argparse.Namespace) -> int:
    """Render the report (or the drain script) to stdout or -o; the exit code of the report."""
    from ..cli import common
    from ..report import RenderOptions, render

    if opts.drain_script:
        from .aggregate import drain_list
        from .drain import drain_script

        text = drain_script(opts.drain_script, drain_list(report))
    else:
        fmt = opts.fmt or ("rich" if common.stdout_is_terminal() else "plain")
        to_file = opts.output not in (None, "-")
        ro = RenderOptions(verbose=opts.verbose, color=fmt == "rich" and not to_file and common.color_wanted(),
                           width=common.terminal_width(), unicode=common.unicode_ok() or to_file)
        text = render(report, fmt, ro)
    if opts.output not in (None, "-"):
        common.write_output(opts.output, text, force=opts.force)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return int(report.exit_code)


def run_from(opts: argparse.Namespace) -> int:
    cluster = Cluster(nodes=read_dir(opts.from_), golden=load_golden(opts.expect))
    return emit(report_for(cluster, opts), opts)


def explain(check_id: str | None) -> int:
    """Print the list of cross-node checks, or one check's explanation (its docstring)."""
    from .registry import cluster_checks

    specs = {s.id: s for s in cluster_checks()}
    if check_id is None:
        sys.stdout.write("".join(f"{s.id:24} {s.title}\n" for s in specs.values()))
        return 0
    spec = specs.get(check_id)
    if spec is None:
        raise UsageError(f"unknown cross-node check {check_id!r} (see --list-checks)")
    settings = "".join(f"\n  {s.flag or name}: {s.help} (default {s.default})" for name, s in spec.settings.items())
    sys.stdout.write(f"{spec.id}: {spec.title}\n\n{spec.explanation}\n" + (f"\nSettings:{settings}\n" if settings else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code: 0 ok, 1 a check failed (or a rank is missing), 2 bad usage, 3 internal error."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse(args)
        if opts.list_checks or opts.explain:
            return explain(opts.explain)
        if opts.from_ is not None:
            return run_from(opts)
        from .runner import ClusterAbort, run_live

        try:
            return run_live(opts)
        except ClusterAbort as exc:
            sys.stderr.write(f"llmdoctor cluster: {exc}\n")
            return 1
    except UsageError as exc:
        sys.stderr.write(f"llmdoctor cluster: error: {exc}\n")
        return 2
    except SystemExit as exc:  # argparse --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        sys.stderr.write("llmdoctor cluster: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - internal errors are exit 3, one line
        sys.stderr.write(f"llmdoctor cluster: internal error: {type(exc).__name__}: {exc}\n")
        if os.environ.get("LLMDOCTOR_DEBUG"):
            import traceback

            traceback.print_exc()
        return 3
