"""torch probe: imports torch in a subprocess of the target interpreter (never in the CLI process)."""

from __future__ import annotations

from typing import Any

from ..snapshot import ExtensionImport, Torch, TorchDevice
from .target_runner import run_worker


def torch_from_worker(data: dict[str, Any]) -> Torch:
    devices = data.get("devices")
    return Torch(
        installed=bool(data.get("installed")),
        version=data.get("version"),
        file=data.get("file"),
        cuda=data.get("cuda"),
        hip=data.get("hip"),
        git_version=data.get("git_version"),
        debug=data.get("debug"),
        cudnn=data.get("cudnn"),
        nccl=data.get("nccl"),
        arch_list=tuple(data["arch_list"]) if data.get("arch_list") is not None else None,
        cuda_available=data.get("cuda_available"),
        device_count=data.get("device_count"),
        devices=tuple(TorchDevice(index=d["index"], name=d.get("name"), capability=d.get("capability"))
                      for d in devices) if devices is not None else None,
        import_error=data.get("import_error"),
        cuda_error=data.get("cuda_error"),
        warnings=tuple(data.get("warnings") or ()),
        loaded_libraries=data.get("loaded_libraries"),
        installs=tuple(data["installs"]) if data.get("installs") is not None else None,
        extensions=_extensions(data.get("extensions")),
    )


def _extensions(rows: Any) -> tuple[ExtensionImport, ...] | None:
    if rows is None:
        return None
    return tuple(
        ExtensionImport(name=str(r["name"]), ok=r.get("ok"), error=r.get("error"),
                        warnings=tuple(str(w) for w in r.get("warnings") or ()), seconds=r.get("seconds"),
                        info={str(k): str(v) for k, v in r["info"].items()} if r.get("info") else None)
        for r in rows if isinstance(r, dict) and r.get("name")
    )


def probe_torch(python: str, timeout: float) -> Torch:
    # the worker gets our timeout so that it can bound its extension imports within it
    return torch_from_worker(run_worker(python, "torch", timeout, (f"{timeout:g}",)))


def probe_torch_cached(python: str, timeout: float, cache: str = "use") -> tuple[Torch, str]:
    """torch's facts, its build facts from the cache when still valid (``cache``: use | refresh | off).

    Returns the facts and what the cache did (a line for ``-v``).
    """
    from . import cuda_live, torch_cache

    data, status = torch_cache.probe_torch_cached(
        python, timeout, cache,
        run_full=lambda: run_worker(python, "torch", timeout, (f"{timeout:g}",)),
        read_live=cuda_live.read_live)
    return torch_from_worker(data), status
