"""llmdoctor fit MODEL: will this model fit on these GPUs, and how to make it fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..engine import UsageError
from . import common

if TYPE_CHECKING:
    from ..memory.engines import EngineOptions
    from ..memory.plan import GpuBudget, Options
    from ..snapshot import Gpu

NVML_TIMEOUT_S = 5.0


def options_from_cli(dtype: str, quant: Optional[str], seq_len: int, batch: int, mode: str, optimizer: str,
                     grad_ckpt: bool, kv_dtype: Optional[str], tp: int, lora_r: int, attn: str,
                     zero: int = 0, offload_optimizer: bool = False, stack: str = "hf",
                     transformers_version: Optional[str] = None) -> "Options":
    from ..memory.engines import parse_version
    from ..memory.plan import Options, normalize_dtype

    tv = parse_version(transformers_version, "--transformers-version") if transformers_version else Options.transformers
    return Options(transformers=tv, dtype=normalize_dtype(dtype), quant=quant.lower() if quant else None, seq_len=seq_len, batch=batch,
                   mode=mode.lower(), optimizer=optimizer.lower(), grad_ckpt=grad_ckpt,
                   kv_dtype=normalize_dtype(kv_dtype) if kv_dtype else None, tp=tp, lora_r=lora_r,
                   attn=attn.lower(), zero=zero, offload_optimizer=offload_optimizer,
                   stack=stack.lower().replace("-", "")).validate()


def checkpoint_dtype_default(opts: "Options", checkpoint: Optional[str], given: bool) -> "Options":
    """Without --dtype, inference keeps the checkpoint's float dtype (fp16, fp32, fp8 checkpoints load as such)."""
    from dataclasses import replace

    if given or opts.mode != "inference" or checkpoint not in ("fp16", "fp32", "fp8"):
        return opts
    return replace(opts, dtype=checkpoint).validate()


def _budgets_of(gpu: "Gpu") -> list["GpuBudget"]:
    """One GPU as budgets: the GPU itself, or each MIG slice (a job on a slice has only the slice)."""
    from ..facts import derived as _facts
    from ..memory.plan import GpuBudget

    cc, _ = _facts.gpu_cc(gpu)
    slices = [m for m in (gpu.mig_devices or ()) if m.memory_total]
    if gpu.mig_mode and slices:
        return [GpuBudget(f"GPU {gpu.index} MIG {m.index}", f"{gpu.name or 'GPU'} MIG {m.profile or m.index}",
                          int(m.memory_total or 0), int(m.memory_used or 0), (), cc) for m in slices]
    if gpu.memory_total is None:
        raise UsageError(f"GPU {gpu.index}: memory total unknown; use --gpus NxNAME")
    procs = tuple((p.pid, p.name or "?", p.used_memory or 0) for p in (gpu.processes or ()))
    return [GpuBudget(f"GPU {gpu.index}", gpu.name or "GPU", gpu.memory_total, gpu.memory_used or 0, procs, cc)]


def _live_gpus() -> tuple[Any, Any]:
    """(gpus, host) from the time-boxed collector: a hung NVML call costs NVML_TIMEOUT_S, not the hang."""
    from ..probes import collect

    snap = collect(timeout=NVML_TIMEOUT_S)
    if snap.gpus is None:
        reason = next((p.reason for p in snap.probes if p.name == "nvml" and p.reason), "NVML did not answer")
        raise UsageError(f"--gpus auto: cannot read this machine's GPUs ({reason}); name them instead, "
                         f"e.g. --gpus 1xH100-80GB")
    return snap.gpus, snap.host


def gpus_from(spec: str, from_: Optional[str]) -> tuple[list["GpuBudget"], Optional[int], str]:
    """(budgets, ram_available, where) from --gpus auto (live NVML or --from snapshot) or a spec like 8xH100-80GB."""
    from .. import data
    from ..memory.plan import parse_gpu_spec

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
        gpus, host = _live_gpus()
        where = "this machine (NVML, memory free now)"
    if not gpus:
        raise UsageError("--gpus auto: no NVIDIA GPU found; name the GPUs to plan for, e.g. --gpus 2xRTX4090")
    out = [b for g in gpus for b in _budgets_of(g)]
    return out, host.ram_available if host else None, where


def offload_disk(folder: Optional[str]) -> Optional[int]:
    if folder is None:
        return None
    if not Path(folder).expanduser().is_dir():
        raise UsageError(f"--offload-folder {folder}: no such directory (create it first: mkdir -p {folder})")
    from ..probes.disk import free_bytes

    return free_bytes(folder)


def engine_options(engine: str, tp: int, pp: int, kv_dtype: Optional[str], seq_len_given: Optional[int],
                   extra: dict[str, Any]) -> "EngineOptions":
    from dataclasses import replace

    from ..memory.engines import EngineOptions, parse_version

    kv = (kv_dtype or "auto").lower()
    kv = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(kv, kv)
    given = extra.pop("engine_version", None)
    version = parse_version(given) if given else None
    o = EngineOptions(engine=engine, tp=tp, pp=pp, kv_cache_dtype=kv,
                      max_model_len=extra.pop("max_model_len", None) or seq_len_given, **extra)
    return (replace(o, version=version) if version else o).validate()


def fit(
    model: str = typer.Argument(..., help="Model directory, its config.json, or a repo id in the local Hugging Face cache."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="bf16 | fp16 | fp32 | fp8 | int8 | nf4 | int4 (bfloat16, float16 ... accepted); default: the checkpoint's (fp8 checkpoints stay fp8 for inference), else bf16"),
    quant: Optional[str] = typer.Option(None, "--quant", help="Quantization method: bnb | gptq | awq."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per sequence (prompt + output); default 4096."),
    batch: int = typer.Option(1, "--batch", help="Sequences at once."),
    mode: str = typer.Option("inference", "--mode", help="inference | lora | qlora | full"),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam | adam8bit | sgd (training modes)."),
    grad_ckpt: bool = typer.Option(True, "--grad-ckpt/--no-grad-ckpt", help="Gradient checkpointing (training modes)."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", "--kv-cache-dtype", help="KV cache dtype (default: the compute dtype)."),
    gpus: str = typer.Option("auto", "--gpus", help="auto (this machine, memory free now) or e.g. 8xH100-80GB, 2xRTX4090, 75.23GB, 24GiB."),
    from_: Optional[str] = typer.Option(None, "--from", help="Take the GPUs from a saved snapshot (with --gpus auto)."),
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree (shards weights, KV cache; for training: FSDP/ZeRO-3 over N)."),
    pp: int = typer.Option(1, "--pp", help="Pipeline-parallel degree (engines)."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank (lora/qlora)."),
    attn: str = typer.Option("sdpa", "--attn", help="sdpa (flash/memory-efficient, default) | eager"),
    zero: int = typer.Option(0, "--zero", help="DeepSpeed ZeRO stage 0-3 over the GPUs given (3 = FSDP full shard)."),
    offload_optimizer: bool = typer.Option(False, "--offload-optimizer", help="Optimizer states in CPU RAM (ZeRO-Offload)."),
    stack: str = typer.Option("hf", "--stack", help="Trainer: hf | trl | peft | llamafactory | axolotl | unsloth."),
    transformers_version: Optional[str] = typer.Option(None, "--transformers-version", help="Training: the transformers release (its loss: 20 bytes per logit before 4.46, 16 from 4.46)."),
    engine: str = typer.Option("transformers", "--engine", help="transformers | vllm | sglang: plan as that engine counts."),
    gpu_memory_utilization: float = typer.Option(0.9, "--gpu-memory-utilization", help="vLLM: fraction of the GPU the instance may use."),
    mem_fraction_static: Optional[float] = typer.Option(None, "--mem-fraction-static", help="SGLang: weights + KV pool fraction."),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len", help="vLLM/SGLang context length (default: the model's)."),
    max_num_seqs: Optional[int] = typer.Option(None, "--max-num-seqs", help="vLLM: requests at once (default by GPU)."),
    max_num_batched_tokens: Optional[int] = typer.Option(None, "--max-num-batched-tokens", help="vLLM: tokens per step (default by GPU)."),
    enforce_eager: bool = typer.Option(False, "--enforce-eager", help="vLLM: no CUDA graphs."),
    block_size: int = typer.Option(16, "--block-size", help="vLLM: tokens per KV block."),
    engine_version: Optional[str] = typer.Option(None, "--engine-version", help="vLLM version whose accounting to use (default: current, 0.21+)."),
    vllm_usage: str = typer.Option("serve", "--vllm-usage", help="vLLM: serve (`vllm serve`) | llm (the LLM class: bigger default batches)."),
    dp: int = typer.Option(1, "--dp", "--data-parallel-size", help="vLLM: data-parallel replicas (with --enable-expert-parallel the experts split over TP x DP)."),
    expert_parallel: bool = typer.Option(False, "--enable-expert-parallel", help="vLLM: routed experts split over the TP x DP ranks."),
    offload_folder: Optional[str] = typer.Option(None, "--offload-folder", help="Where disk offload would go (must exist; its free space is checked)."),
    load: bool = typer.Option(False, "--load", help="Also predict loading: storage, format, shards, host memory, time (load.* checks)."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help="With --load: processes on this host that each load the weights."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
    explain: bool = typer.Option(False, "--explain", help="Print the formulas of every term (and the engine's assumptions) and exit."),
) -> None:
    """Will MODEL fit on these GPUs? Per-GPU bars, the largest context that fits, and ranked ways to make it fit."""
    from ..memory import render as R

    engine = engine.lower()
    if explain:
        typer.echo(R.explain(engine), nl=False)
        raise typer.Exit(0)
    opts = options_from_cli(dtype or "bf16", quant, seq_len or 4096, batch, mode, optimizer, grad_ckpt, kv_dtype, tp,
                            lora_r, attn, zero, offload_optimizer, stack, transformers_version)
    extra = {"gpu_memory_utilization": gpu_memory_utilization, "mem_fraction_static": mem_fraction_static,
             "max_model_len": max_model_len, "max_num_seqs": max_num_seqs,
             "max_num_batched_tokens": max_num_batched_tokens, "enforce_eager": enforce_eager,
             "block_size": block_size, "engine_version": engine_version, "usage": vllm_usage, "dp": dp,
             "expert_parallel": expert_parallel}
    eopts = engine_options(engine, tp, pp, kv_dtype, seq_len, extra) if engine != "transformers" else None
    disk = offload_disk(offload_folder)
    from ..model_config import load_model_spec

    spec = load_model_spec(model)
    opts = checkpoint_dtype_default(opts, spec.checkpoint_dtype, given=dtype is not None)
    budgets, ram, _where = gpus_from(gpus, from_)
    if opts.tp * pp > len(budgets):
        raise UsageError(f"--tp {opts.tp}" + (f" x --pp {pp}" if pp > 1 else "")
                         + f" needs {opts.tp * pp} GPUs, but --gpus gives {len(budgets)}")
    if eopts is not None:
        _run_engine(spec, budgets, opts, eopts, json_, dtype_given=dtype is not None)
    load_result = _load_section(model, spec, opts, nproc_per_node) if load else None
    _run_transformers(spec, budgets, opts, ram, disk, offload_folder, json_, load_result)


def _emit(text: str) -> None:
    color = common.color_wanted()
    if color:
        from rich.console import Console

        Console(highlight=False, soft_wrap=True).print(text, end="")
    else:
        typer.echo(text, nl=False)


def _run_transformers(spec: Any, budgets: list["GpuBudget"], opts: "Options", ram: Optional[int],
                      disk: Optional[int], offload_folder: Optional[str], json_: bool,
                      load_result: Optional[tuple[Any, Any, str]] = None) -> None:
    from ..memory import render as R
    from ..memory.plan import capacity_table, plan, remedies

    p = plan(spec, budgets, opts)
    caps = capacity_table(spec, budgets, opts) if not p.problems else []
    rems = remedies(spec, budgets, opts, ram_available=ram, disk_free=disk, offload_folder=offload_folder)
    if json_:
        doc = R.to_dict(p, caps, rems)
        if load_result is not None:
            doc["load"] = load_result[1]
        typer.echo(json.dumps(doc, indent=2))
    else:
        _emit(R.render(p, caps, rems, width=common.terminal_width(), color=common.color_wanted()))
        if load_result is not None:
            typer.echo(load_result[2], nl=False)
    load_failed = load_result is not None and load_result[0].failed
    raise typer.Exit(0 if p.fits and not load_failed else 1)


def _run_engine(spec: Any, budgets: list["GpuBudget"], opts: "Options", eopts: "EngineOptions", json_: bool,
                dtype_given: bool = True) -> None:
    from dataclasses import replace

    from ..memory import render as R
    from ..memory.engines import engine_plan, engine_remedies
    from ..memory.plan import weight_bytes

    if opts.dtype == "fp32" and not dtype_given:  # dtype auto: engines serve a float32 checkpoint in 16-bit
        opts = replace(opts, dtype="bf16")
    elif opts.dtype in ("fp32", "fp16", "bf16"):
        eopts = replace(eopts, dtype=opts.dtype)
    emb, layers, tail = weight_bytes(spec, opts)
    eopts = replace(eopts, weight_bytes_per_param=(emb + sum(layers) + tail) / max(spec.params, 1))
    worst = min(budgets[: eopts.tp * eopts.pp * eopts.dp], key=lambda b: b.total - b.used)
    ep = engine_plan(spec, worst.name, worst.total, eopts, worst.used)
    unused = [b.label for b in budgets[eopts.tp * eopts.pp * eopts.dp:]]
    rems = engine_remedies(spec, worst.name, worst.total, eopts, worst.used)
    if json_:
        typer.echo(json.dumps({**R.engine_to_dict(spec, worst, ep, unused), "remedies": rems}, indent=2))
    else:
        _emit(R.render_engine(spec, worst, ep, unused, width=common.terminal_width(), color=common.color_wanted(),
                              remedies=rems))
    raise typer.Exit(0 if ep.fits else 1)


def _load_section(model: str, spec: Any, opts: "Options", ranks: int) -> tuple[Any, Any, str]:
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
