"""llmdoctor fit MODEL: will this model fit on these GPUs, and how to make it fit."""

from __future__ import annotations

import json
from typing import Optional

import typer

from ..engine import UsageError
from . import common


def options_from_cli(dtype: str, quant: Optional[str], seq_len: int, batch: int, mode: str, optimizer: str,
                     grad_ckpt: bool, kv_dtype: Optional[str], tp: int, lora_r: int, attn: str):
    from ..memory.plan import Options

    return Options(dtype=dtype.lower(), quant=quant.lower() if quant else None, seq_len=seq_len, batch=batch,
                   mode=mode.lower(), optimizer=optimizer.lower(), grad_ckpt=grad_ckpt,
                   kv_dtype=kv_dtype.lower() if kv_dtype else None, tp=tp, lora_r=lora_r, attn=attn.lower()).validate()


def gpus_from(spec: str, from_: Optional[str]):
    """(budgets, ram_available) from --gpus auto (live NVML or --from snapshot) or a GPU spec like 8xH100-80GB."""
    from .. import data
    from ..memory.plan import GpuBudget, parse_gpu_spec

    if spec.lower() != "auto":
        if from_ is not None:
            raise UsageError("--from gives the GPUs; use it with --gpus auto (the default)")
        return parse_gpu_spec(spec, data.load("gpu_memory")["gpus"]), None, "table"
    if from_ is not None:
        from ..inputs import load_snapshot

        snap = load_snapshot(from_)
        gpus, host = snap.gpus, snap.host
        where = f"snapshot {from_}"
    else:
        from ..probes import host as host_probe, nvml

        try:
            _, gpus, _ = nvml.probe_nvml(nvml.load_backend())
        except Exception as exc:  # no driver: say so, suggest a spec
            raise UsageError(f"--gpus auto: cannot read this machine's GPUs ({exc}); name them instead, "
                             f"e.g. --gpus 1xH100-80GB") from None
        host = host_probe.probe_host()
        where = "this machine (NVML, memory free now)"
    if not gpus:
        raise UsageError("--gpus auto: no NVIDIA GPU found; name the GPUs to plan for, e.g. --gpus 2xRTX4090")
    out = []
    for g in gpus:
        if g.memory_total is None:
            raise UsageError(f"GPU {g.index}: memory total unknown; use --gpus NxNAME")
        procs = tuple((p.pid, p.name or "?", p.used_memory or 0) for p in (g.processes or ()))
        from ..facts import derived as _facts

        cc, _ = _facts.gpu_cc(g)
        out.append(GpuBudget(f"GPU {g.index}", g.name or "GPU", g.memory_total, g.memory_used or 0, procs, cc))
    return out, host.ram_available if host else None, where


def fit(
    model: str = typer.Argument(..., help="Model directory, its config.json, or a repo id in the local Hugging Face cache."),
    dtype: str = typer.Option("bf16", "--dtype", help="bf16 | fp16 | fp32 | fp8 | int8 | nf4 | int4"),
    quant: Optional[str] = typer.Option(None, "--quant", help="Quantization method: bnb | gptq | awq."),
    seq_len: int = typer.Option(4096, "--seq-len", help="Tokens per sequence (prompt + output)."),
    batch: int = typer.Option(1, "--batch", help="Sequences at once."),
    mode: str = typer.Option("inference", "--mode", help="inference | lora | qlora | full"),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam | adam8bit | sgd (training modes)."),
    grad_ckpt: bool = typer.Option(True, "--grad-ckpt/--no-grad-ckpt", help="Gradient checkpointing (training modes)."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="KV cache dtype (default: the compute dtype)."),
    gpus: str = typer.Option("auto", "--gpus", help="auto (this machine, memory free now) or e.g. 8xH100-80GB, 2xRTX4090."),
    from_: Optional[str] = typer.Option(None, "--from", help="Take the GPUs from a saved snapshot (with --gpus auto)."),
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree (shards weights, KV cache; for training also gradients/optimizer)."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank (lora/qlora)."),
    attn: str = typer.Option("sdpa", "--attn", help="sdpa (flash/memory-efficient, default) | eager"),
    offload_folder: Optional[str] = typer.Option(None, "--offload-folder", help="Where disk offload would go (its free space is checked)."),
    load: bool = typer.Option(False, "--load", help="Also predict loading: storage, format, shards, host memory, time (load.* checks)."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help="With --load: processes on this host that each load the weights."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
    explain: bool = typer.Option(False, "--explain", help="Print the formulas of every term and exit."),
) -> None:
    """Will MODEL fit on these GPUs? Per-GPU bars, the largest context that fits, and ranked ways to make it fit."""
    from ..memory import render as R
    from ..memory.plan import capacity_table, plan, remedies

    if explain:
        typer.echo(R.explain(), nl=False)
        raise typer.Exit(0)
    opts = options_from_cli(dtype, quant, seq_len, batch, mode, optimizer, grad_ckpt, kv_dtype, tp, lora_r, attn)
    from ..model_config import load_model_spec

    spec = load_model_spec(model)
    budgets, ram, _where = gpus_from(gpus, from_)
    if opts.tp > len(budgets):
        raise UsageError(f"--tp {opts.tp} needs {opts.tp} GPUs, but --gpus gives {len(budgets)}")
    disk = None
    if offload_folder is not None:
        from ..probes.disk import free_bytes

        disk = free_bytes(offload_folder)
    p = plan(spec, budgets, opts)
    caps = capacity_table(spec, budgets, opts)
    rems = remedies(spec, budgets, opts, ram_available=ram, disk_free=disk, offload_folder=offload_folder)
    load_result = _load_section(model, spec, opts, nproc_per_node) if load else None
    if json_:
        doc = R.to_dict(p, caps, rems)
        if load_result is not None:
            doc["load"] = load_result[1]
        typer.echo(json.dumps(doc, indent=2))
    else:
        color = common.color_wanted()
        text = R.render(p, caps, rems, width=common.terminal_width(), color=color)
        if color:
            from rich.console import Console

            Console(highlight=False, soft_wrap=True).print(text, end="")
        else:
            typer.echo(text, nl=False)
        if load_result is not None:
            typer.echo(load_result[2], nl=False)
    load_failed = load_result is not None and load_result[0].failed
    raise typer.Exit(0 if p.fits and not load_failed else 1)


def _load_section(model: str, spec, opts, ranks: int):
    """(load report, JSON terms, text) for fit --load."""
    from ..loading_report import load_report, load_terms, probe_storage, with_storage
    from ..memory.plan import weight_bytes
    from ..model_config.loader import resolve
    from ..probes import host as host_probe
    from ..report import RenderOptions, render
    from ..snapshot import Snapshot

    directory, _ = resolve(model)
    emb, layers, tail = weight_bytes(spec, opts)
    expected = int(emb + sum(layers) + tail)
    storage, record = probe_storage(directory, expected, ranks)
    snap = with_storage(Snapshot(host=host_probe.probe_host()), storage, record)
    report = load_report(snap)
    terms = {**(load_terms(storage) or {}), "probe": record.reason,
             "checks": [c.to_dict() for c in report.checks]}
    text = render(report, "plain", RenderOptions(verbose=True, width=common.terminal_width()))
    lines = [line for line in text.splitlines() if not line.startswith("llmdoctor ")]
    return report, terms, "\nLoading the weights\n" + "\n".join(lines) + "\n"
