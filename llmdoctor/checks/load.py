"""Loading the weights (load.*): checkpoint format, shards, storage, host memory, time, the HF cache.

They read ``snapshot.model_storage``, which ``llmdoctor fit MODEL --load`` and ``llmdoctor check --model
MODEL`` fill by probing the model directory; without a model they are unknown ("no model given").
"""

from __future__ import annotations

from typing import Mapping

from ..engine import Context, Setting, check
from ..facts import loading
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import Host, ModelStorage, Packages, ProbeResult
from ..units import format_bytes

CONVERT = ("python -c \"from transformers import AutoModelForCausalLM as M; "
           "M.from_pretrained('{path}').save_pretrained('{path}-safetensors', safe_serialization=True)\"")


def _no_model(probes: tuple[ProbeResult, ...]) -> Finding:
    """Why there are no storage facts: no model was given (nothing to check), or its probe failed (unknown)."""
    record = next((p for p in probes if p.name == "model-storage"), None)
    if record is None:
        return not_applicable("no model given (llmdoctor check --model DIR, or llmdoctor fit DIR --load)")
    return unknown(f"the model's storage could not be probed: {record.reason or 'no facts'}")


def _with_ranks(s: ModelStorage, ctx: Context) -> ModelStorage:
    """The storage facts with the local ranks the command line gives (--nproc-per-node), if any."""
    ranks = int(ctx.setting("ranks") or 0)
    if ranks <= 0:
        return s
    from dataclasses import replace

    return replace(s, local_ranks=ranks)


def _mb_s(rate: float) -> str:
    return f"{rate / 1e6:,.0f} MB/s"


def _seconds(s: float) -> str:
    return f"{s:,.0f} s" if s >= 10 else f"{s:.1f} s"


@check("load.checkpoint-format", "The weights are in a format that loads fast and safely")
def check_checkpoint_format(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...]) -> list[Finding] | Finding:
    """Are the weights safetensors (memory-mapped, no code runs on load) or pickle?

    Pickle checkpoints (`pytorch_model*.bin`, `.pt`, `.pth`) are unpickled: loading one can execute code
    it contains (unless loaded with `weights_only=True`), and each file is read whole into memory, where
    safetensors memory-maps the file and reads only what is used.  A directory without any weight file cannot be loaded at all; unreadable files
    and symbolic links that point outside the model directory (not followed) are named.

    Fix: convert once with transformers (`save_pretrained(..., safe_serialization=True)`) and load the
    safetensors copy.

    Sources: https://huggingface.co/docs/safetensors/index ; https://huggingface.co/docs/safetensors/speed ;
    https://pytorch.org/docs/stable/generated/torch.load.html (pickle runs code; weights_only).
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    findings = [*_unreadable(s), *_links(s)]
    files = loading.loaded_files(s)
    if not files:
        findings.append(fail(f"No weight file (.safetensors, .bin, .pt, .gguf) in {s.path}: there is nothing to load",
                             {"path": s.path}, remedy="Download the weights, or point --model at the folder that has them."))
        return findings
    formats = sorted({f.format for f in files})
    evidence = {"files": len(files), "bytes": loading.weight_bytes(s), "formats": formats}
    if "pickle" in formats:
        findings.append(warn(f"The weights are {len(files)} pickle file(s) ({format_bytes(loading.weight_bytes(s))}): "
                             f"loading them can run code they contain, and each is read whole into memory",
                             evidence, remedy="Convert them to safetensors once and load that copy.",
                             commands=[CONVERT.format(path=s.path)]))
    elif not findings:
        findings.append(passed(f"{len(files)} {'/'.join(formats)} file(s), {format_bytes(loading.weight_bytes(s))}", evidence))
    return findings


def _unreadable(s: ModelStorage) -> list[Finding]:
    if not s.unreadable:
        return []
    return [fail(f"{len(s.unreadable)} weight file(s) cannot be read: {', '.join(s.unreadable[:5])}",
                 {"unreadable": list(s.unreadable)}, remedy="Fix their permissions (the job's user must read them).")]


def _links(s: ModelStorage) -> list[Finding]:
    if not s.links_outside:
        return []
    return [warn(f"{len(s.links_outside)} weight file(s) are links out of the model directory and were not followed: "
                 f"{', '.join(s.links_outside[:5])}", {"links": list(s.links_outside)},
                 remedy="Copy the files into the model directory, or point --model at where they really are.")]


@check("load.shards", "Every shard the index names is present and whole")
def check_shards(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...]) -> list[Finding] | Finding:
    """Are the checkpoint's shards complete, before the job finds out ten minutes in?

    Reads `model.safetensors.index.json` (or `pytorch_model.bin.index.json`): every shard its weight_map
    names must be present; safetensors files must be as long as their own header says (a partial
    download or copy is shorter); weight files the index does not name are listed.  When the memory plan
    knows the model, the bytes on disk are compared with what the parameters need in the planned dtype
    (a float32 checkpoint is twice a bfloat16 one).

    Sources: https://huggingface.co/docs/safetensors/metadata_parsing (header, data_offsets);
    https://huggingface.co/docs/transformers/main/en/big_models (sharded checkpoints and their index).
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    if s.index_error:
        return fail(s.index_error, {"index": s.index_file}, remedy="Download the index again (it must be the JSON the model repository has).")
    findings: list[Finding] = []
    if s.index_missing:
        findings.append(fail(f"{len(s.index_missing)} shard(s) named by {s.index_file} are missing: {', '.join(s.index_missing[:5])}",
                             {"missing": list(s.index_missing)}, remedy="Download the missing shards before the job starts."))
    if s.truncated:
        findings.append(fail(f"{len(s.truncated)} file(s) are shorter than their header says (truncated): {', '.join(s.truncated[:5])}",
                             {"truncated": list(s.truncated)}, remedy="Download or copy these files again."))
    if s.index_extra:
        findings.append(warn(f"{len(s.index_extra)} weight file(s) are not named by {s.index_file}: {', '.join(s.index_extra[:5])}",
                             {"extra": list(s.index_extra)}, remedy="Remove leftovers of another version of the model."))
    findings.extend(_size_vs_plan(s))
    if not findings and loading.loaded_files(s):
        n = len(loading.loaded_files(s))
        how = f"all named by {s.index_file}" if s.index_file else "no index (a single checkpoint)"
        findings.append(passed(f"{n} shard(s) present and whole ({how})", {"shards": n}))
    return findings or [unknown("no weight files to check")]


def _size_vs_plan(s: ModelStorage) -> list[Finding]:
    total = loading.weight_bytes(s)
    if not s.expected_bytes or not total:
        return []
    ratio = total / s.expected_bytes
    if 0.9 <= ratio <= 1.1:
        return []
    return [warn(f"The weights on disk take {format_bytes(total)}, {ratio:.2f}× the {format_bytes(s.expected_bytes)} "
                 f"the parameters need in the planned dtype: the checkpoint's dtype differs (or files are missing/extra)",
                 {"bytes_on_disk": total, "bytes_planned": s.expected_bytes, "ratio": round(ratio, 3)},
                 remedy="Load with the dtype you planned (torch_dtype=...), or plan with the checkpoint's dtype (--dtype).")]


@check("load.storage", "The weights sit on storage that reads them fast")
def check_storage(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...]) -> Finding:
    """What holds the weights, and how fast does it read them?

    The filesystem comes from /proc/mounts (the longest mount point holding the model), the device
    kind from /sys/block/*/queue/rotational.  Network filesystems (NFS, Lustre, GPFS, CephFS ...) and FUSE
    object-store mounts are shared by every reader and slow for memory-mapped safetensors, which read
    in page-sized pieces; spinning disks are slow for everything; a container's overlay layer adds a
    copy-on-write filesystem in the path.  The throughput is measured on the weight files themselves,
    bounded in bytes and seconds, with the page cache bypassed (O_DIRECT or posix_fadvise).

    Fix: copy the weights to a local NVMe disk before the job, or read whole files instead of memory
    mapping them (vLLM `--safetensors-load-strategy eager`, SGLang `--weight-loader-disable-mmap`,
    `safetensors.torch.load(open(f, "rb").read())`).

    Sources: https://man7.org/linux/man-pages/man2/posix_fadvise.2.html ; safetensors/safetensors#562
    (page-sized mmap reads on network disks); vllm-project/vllm#24469 (eager loading from Lustre);
    sgl-project/sglang#7469 (Qwen3-32B: 4 min 18 s with mmap, 32 s without); Comfy-Org/ComfyUI#2288.
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    evidence = {"fs_type": s.fs_type, "mount": s.mount_point, "device": s.device, "class": s.storage_class,
                "throughput_bps": round(s.throughput) if s.throughput else None, "method": s.throughput_method}
    rate = f" at {_mb_s(s.throughput)}" if s.throughput else ""
    where = f"{s.fs_type} ({s.mount_point})" if s.fs_type else "an unknown filesystem"
    if s.storage_class in ("network", "fuse"):
        return warn(f"The weights are on {where}, a {'network' if s.storage_class == 'network' else 'FUSE'} filesystem{rate}: "
                    f"every rank reads them through it, and memory-mapped reads are slow there",
                    evidence, remedy="Copy the model to a local NVMe disk first and load from there, or read whole files "
                                     "instead of memory-mapping them (vLLM --safetensors-load-strategy eager; "
                                     "SGLang --weight-loader-disable-mmap).",
                    commands=[f"rsync -a {s.path}/ /local/nvme/{s.path.rstrip('/').split('/')[-1]}/"])
    if s.storage_class == "local-hdd" and (s.throughput is None or s.throughput < 300e6):
        return warn(f"The weights are on a spinning disk ({where}){rate}", evidence,
                    remedy="Move the model to an SSD/NVMe disk.")
    if s.storage_class == "overlay":
        return warn(f"The weights are inside the container's overlay filesystem{rate}", evidence,
                    remedy="Mount the model directory as a volume (docker run -v / a Kubernetes volume) instead.")
    if s.storage_class in (None, "unknown"):
        return unknown(f"The kind of storage holding the weights is unknown ({where}){rate}", evidence)
    if s.throughput is None:
        return unknown(f"The weights are on {where} ({s.storage_class}); the read throughput was not measured", evidence)
    if s.storage_class == "local-virtual" and s.throughput < 200e6:
        return warn(f"The weights are on a virtual machine's disk ({where}) that reads at {_mb_s(s.throughput)}", evidence,
                    remedy="Use a local NVMe (instance-store) disk for the weights.")
    return passed(f"The weights are on {where}, {s.storage_class}, read{rate} ({s.throughput_method})", evidence)


@check("load.host-memory", "Host memory holds what every local process needs while loading",
       settings={"ranks": Setting(int, 0, "processes on this host that each load the weights (0: the snapshot's)", flag="--nproc-per-node")})
def check_host_memory(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...], host: Host | None, ctx: Context) -> Finding:
    """Will the host's memory (or the container's cgroup limit) survive loading?

    Each local process that loads the weights needs, at its peak, one shard (memory-mapped safetensors,
    or one unpickled shard at a time, with `low_cpu_mem_usage=True`, `device_map=...` or meta-device
    initialisation) or the whole model plus one shard (when the model is first built on the CPU).  With
    eight ranks on a node, eight full copies is the classic host OOM.  Compared with the smaller of the
    RAM available and the room left under the cgroup memory limit (memory.max / memory.limit_in_bytes).

    Sources: https://huggingface.co/docs/transformers/main/en/big_models ;
    https://docs.kernel.org/admin-guide/cgroup-v2.html (memory.max, memory.current).
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    s = _with_ranks(s, ctx)
    mem = loading.host_memory(s, host)
    if not loading.loaded_files(s):
        return not_applicable("no weight files to load")
    evidence = {"per_process_low": mem.per_process_low, "per_process_full": mem.per_process_full,
                "processes": mem.processes, "available": mem.available, "limited_by": mem.limited_by}
    if mem.available is None:
        return unknown("The host's available memory is unknown (neither RAM nor a cgroup limit was read)", evidence)
    low, full = mem.per_process_low * mem.processes, mem.per_process_full * mem.processes
    room = f"{format_bytes(mem.available)} available ({mem.limited_by})"
    if low > mem.available:
        return fail(f"{mem.processes} process(es) × {format_bytes(mem.per_process_low)} (one shard each) = {format_bytes(low)} "
                    f"exceeds the {room}: the host runs out of memory while loading", evidence,
                    remedy="Load with fewer processes at once, smaller shards, or more memory (raise the container's limit).")
    if full > mem.available:
        return warn(f"Building the model on the CPU first needs {mem.processes} × {format_bytes(mem.per_process_full)} = "
                    f"{format_bytes(full)}, more than the {room}; one shard at a time needs {format_bytes(low)}", evidence,
                    remedy="Load with low_cpu_mem_usage=True or device_map=... (meta-device initialisation), never a CPU copy first.")
    return passed(f"{mem.processes} process(es) need at most {format_bytes(full)} while loading; {room}", evidence)


@check("load.time", "Loading the weights takes a reasonable time",
       settings={"max_seconds": Setting(float, 300.0, "warn when the predicted load time is longer (seconds)"),
                 "ranks": Setting(int, 0, "processes on this host that each load the weights (0: the snapshot's)", flag="--nproc-per-node")})
def check_load_time(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...], ctx: Context) -> Finding:
    """How long will reading and deserialising the weights take, and what would be faster?

    Predicted from the measured read throughput of the weight files and the measured memory copy
    bandwidth: bytes × readers ÷ throughput (the local processes share the storage) plus one copy into
    tensors.  Ranked alternatives: load once and broadcast, copy to local NVMe first — each with its
    predicted time.

    Sources: https://huggingface.co/docs/safetensors/speed ; https://huggingface.co/docs/accelerate/usage_guides/big_modeling .
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    s = _with_ranks(s, ctx)
    if not loading.loaded_files(s):
        return not_applicable("no weight files to load")
    plan = loading.current_plan(s)
    if plan is None:
        return unknown("The read throughput was not measured, so the load time is unknown")
    alts = loading.alternatives(s)
    evidence: Mapping[str, object] = {"seconds": round(plan.seconds, 2), "read_seconds": round(plan.read_seconds, 2),
                                      "copy_seconds": round(plan.copy_seconds, 2), "assumes": plan.assumes,
                                      "alternatives": [{"name": a.name, "seconds": round(a.seconds, 2), "assumes": a.assumes} for a in alts]}
    text = f"Loading takes about {_seconds(plan.seconds)} ({_seconds(plan.read_seconds)} reading, {_seconds(plan.copy_seconds)} copying; {plan.assumes})"
    if plan.seconds > float(ctx.setting("max_seconds")) and alts:
        best = alts[0]
        return warn(text, evidence, remedy=f"Faster: {best.name}, about {_seconds(best.seconds)} ({best.assumes}); "
                    + "; ".join(f"{a.name} {_seconds(a.seconds)}" for a in alts[1:]))
    if plan.seconds > float(ctx.setting("max_seconds")):
        return warn(text, evidence, remedy="Use faster storage for the weights.")
    return passed(text, evidence)


@check("load.hf-cache", "The Hugging Face cache holds the whole model, with room to spare")
def check_hf_cache(model_storage: ModelStorage | None, probes: tuple[ProbeResult, ...], env: Mapping[str, str] | None, packages: Packages | None) -> Finding:
    """Is a model in the Hugging Face cache complete for offline use, and is there disk for it?

    A model resolved from the hub cache (a `models--ORG--NAME/snapshots/REV` folder) must have every
    file the index names and no `*.incomplete` blob to load with `HF_HUB_OFFLINE=1` (as jobs on
    compute nodes without internet must).  When it is not complete, hf_xet / hf_transfer speed up the
    download.

    Sources: https://huggingface.co/docs/huggingface_hub/guides/manage-cache ;
    https://huggingface.co/docs/huggingface_hub/package_reference/environment_variables (HF_HUB_OFFLINE,
    HF_HUB_ENABLE_HF_TRANSFER).
    """
    if model_storage is None:
        return _no_model(probes)
    s = model_storage
    if s.hf_cache_dir is None:
        return not_applicable(f"{s.path} is not in the Hugging Face cache")
    offline = (env or {}).get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    evidence = {"cache": s.hf_cache_dir, "free": s.hf_cache_free, "complete": s.hf_offline_complete, "HF_HUB_OFFLINE": offline}
    if s.hf_offline_complete is False:
        accel = [n for n in ("hf_xet", "hf_transfer") if packages is not None and packages.get(n) is not None]
        cmd = "huggingface-cli download " + s.path.split("models--", 1)[-1].split("/", 1)[0].replace("--", "/")
        finding = fail if offline else warn
        return finding("The model is not complete in the Hugging Face cache" + (" and HF_HUB_OFFLINE is set: loading will fail" if offline else ""),
                       evidence, remedy="Finish the download before the job" + (f" ({', '.join(accel)} installed)" if accel else " (pip install hf_xet speeds it up)"),
                       commands=[cmd])
    if s.hf_offline_complete is None:
        return unknown("Whether the cached model is complete is unknown", evidence)
    free = f"; {format_bytes(s.hf_cache_free)} free" if s.hf_cache_free is not None else ""
    return passed(f"The model is complete in {s.hf_cache_dir} for offline use{free}", evidence)
