"""Standalone probe worker, run inside the *target* interpreter: ``python target_worker.py torch|packages|python``.

It prints one JSON object on stdout.  It must not import llmdoctor (the target venv may not have it)
and must run on old Pythons (3.8+): no match statements; annotations use typing's List/Dict/Optional
(never ``X | Y`` or ``list[str]``) under ``from __future__ import annotations``, so they are never
evaluated.  Everything it cannot learn is reported as an error string, never raised.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

T0 = time.monotonic()
# Set when an extension import had to be abandoned (still running in its thread): exit hard.
_ABANDONED: List[threading.Thread] = []

CUDA_LIBS = ("libcudnn", "libnccl", "libcudart", "libcuda", "libcublas", "libnvrtc")


def _err(exc: BaseException) -> str:
    return "%s: %s" % (type(exc).__name__, exc)


def _loaded_libraries() -> Optional[Dict[str, str]]:
    """Which CUDA libraries this process has mapped, from /proc/self/maps (Linux only)."""
    found: Dict[str, str] = {}
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                base = os.path.basename(path)
                for stem in CUDA_LIBS:
                    if base.startswith(stem + ".so") or base.startswith(stem + "-") or base == stem + ".so":
                        found.setdefault(stem[3:], path)
    except OSError:
        return None
    return found


def _torch_installs() -> List[str]:
    dirs: List[str] = []
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "torch", "__init__.py")
        if os.path.isfile(candidate):
            real = os.path.realpath(os.path.dirname(candidate))
            if real not in dirs:
                dirs.append(real)
    return dirs


def _nccl_version(torch: Any) -> Optional[str]:
    try:
        v = torch.cuda.nccl.version()
    except Exception:
        return None
    if isinstance(v, tuple):
        return ".".join(str(x) for x in v[:3])
    if isinstance(v, int):
        # NCCL_VERSION_CODE: < 2.9 is major*1000+minor*100+patch, later major*10000+minor*100+patch
        if v >= 10000:
            return "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
        return "%d.%d.%d" % (v // 1000, (v % 1000) // 100, v % 100)
    return str(v)


def probe_torch() -> Dict[str, Any]:
    # sys.path: where the torch cache looks for (re)installed distributions on later runs
    out: Dict[str, Any] = {"installed": False, "installs": _torch_installs(), "sys_path": [p for p in sys.path if p]}
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return out
    except Exception as exc:
        out["import_error"] = _err(exc)
        return out
    out["installed"] = True
    caught: List[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as exc:  # noqa: BLE001 - a broken torch is the data we want
            out["import_error"] = _err(exc)
            out["import_traceback"] = traceback.format_exc()[-4000:]
            out["warnings"] = [str(w.message) for w in caught]
            return out
        out["version"] = str(torch.__version__)
        out["file"] = getattr(torch, "__file__", None)
        ver = getattr(torch, "version", None)
        out["cuda"] = getattr(ver, "cuda", None)
        out["hip"] = getattr(ver, "hip", None)
        out["git_version"] = getattr(ver, "git_version", None)
        out["debug"] = getattr(ver, "debug", None)
        try:
            flags = torch._C._cuda_getArchFlags() if hasattr(torch._C, "_cuda_getArchFlags") else None
            out["arch_list"] = flags.split() if flags else ([] if out["cuda"] is None else None)
        except Exception:
            out["arch_list"] = None
        try:
            out["cudnn"] = torch.backends.cudnn.version()
        except Exception:
            out["cudnn"] = None
        out["nccl"] = _nccl_version(torch) if out["cuda"] else None
        try:
            out["cuda_available"] = bool(torch.cuda.is_available())
            out["device_count"] = int(torch.cuda.device_count()) if out["cuda"] else 0
        except Exception as exc:
            out["cuda_available"] = False
            out["cuda_error"] = _err(exc)
        if out["cuda"] and not out.get("cuda_available") and "cuda_error" not in out:
            try:
                torch.cuda.init()
            except Exception as exc:
                out["cuda_error"] = _err(exc)
        devices: List[Dict[str, Any]] = []
        if out.get("cuda_available"):
            for i in range(out.get("device_count") or 0):
                dev: Dict[str, Any] = {"index": i}
                try:
                    dev["name"] = torch.cuda.get_device_name(i)
                    major, minor = torch.cuda.get_device_capability(i)
                    dev["capability"] = "%d.%d" % (major, minor)
                except Exception as exc:
                    dev["error"] = _err(exc)
                devices.append(dev)
        out["devices"] = devices
    out["warnings"] = [str(w.message) for w in caught]
    out["loaded_libraries"] = _loaded_libraries()
    if os.environ.get("LLMDOCTOR_EXTENSION_IMPORTS", "1").strip().lower() not in ("0", "no", "false", "off"):
        out["extensions"] = probe_extensions(torch, out.get("version"), _budget())
    return out


# --------------------------------------------------------------------------- GPU extensions


def _budget() -> float:
    """Seconds left for extension imports: argv[2] is the caller's whole timeout for this worker."""
    try:
        total = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    except ValueError:
        total = 20.0
    # keep a margin so that the JSON is written before the caller gives up on us
    return max(0.0, T0 + total * 0.8 - 1.0 - time.monotonic())


class _LogCatcher(object):
    """A logging handler that keeps WARNING+ records (xFormers logs its 'built for' warning)."""

    def __init__(self) -> None:
        import logging

        class H(logging.Handler):
            def __init__(self, sink: List[str]) -> None:
                logging.Handler.__init__(self, logging.WARNING)
                self.sink = sink

            def emit(self, record: logging.LogRecord) -> None:
                try:
                    self.sink.append(record.getMessage())
                except Exception:
                    pass

        self.records: List[str] = []
        self.handler = H(self.records)
        self.logging = logging

    def __enter__(self) -> _LogCatcher:
        self.logging.getLogger().addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:  # never swallows the exception
        self.logging.getLogger().removeHandler(self.handler)


def _run_bounded(fn: Callable[[], Any], timeout: float) -> Tuple[str, Any]:
    """Run fn() in a daemon thread; ('ok', value) | ('error', text) | ('timeout', None)."""
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a library is data too
            box["error"] = _err(exc)

    th = threading.Thread(target=target, name="llmdoctor-ext-import")
    th.daemon = True
    th.start()
    th.join(timeout)
    if th.is_alive():
        _ABANDONED.append(th)
        return "timeout", None
    if "error" in box:
        return "error", box["error"]
    return "ok", box.get("value")


def _find(name: str) -> Any:
    """The spec of a top-level module without importing anything; None if absent."""
    import importlib.util

    try:
        return importlib.util.find_spec(name)
    except BaseException:  # noqa: BLE001
        return None


def _load_extension_file(qualname: str, package: str) -> Dict[str, str]:
    """Load package/<last part of qualname>*.so directly, without running the package's __init__."""
    import glob
    import importlib.machinery
    import importlib.util

    spec = _find(package)
    dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    stem = qualname.rsplit(".", 1)[-1]
    for d in dirs:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            for path in sorted(glob.glob(os.path.join(d, stem + suffix))):
                loader = importlib.machinery.ExtensionFileLoader(qualname, path)
                mspec = importlib.util.spec_from_file_location(qualname, path, loader=loader)
                if mspec is None:
                    continue
                module = importlib.util.module_from_spec(mspec)
                loader.exec_module(module)
                return {"file": path}
    raise ImportError("no %s extension file in %s" % (stem, ", ".join(dirs) or package))


def _import(name: str) -> Callable[[], None]:
    def go() -> None:
        import importlib

        importlib.import_module(name)
        return None
    return go


def _triton_libcuda() -> Dict[str, str]:
    """triton's own libcuda search (what `ld -lcuda` at kernel compile time will use)."""
    fn: Optional[Callable[[], Any]] = None
    for mod, attr in (("triton.backends.nvidia.driver", "libcuda_dirs"), ("triton.common.build", "libcuda_dirs")):
        try:
            import importlib

            fn = getattr(importlib.import_module(mod), attr)
            break
        except BaseException:  # noqa: BLE001
            continue
    if fn is None:
        raise RuntimeError("this triton has no libcuda_dirs() (unknown triton layout)")
    dirs = fn()
    return {"libcuda_dirs": os.pathsep.join(str(d) for d in dirs)}


def _deepspeed_ops() -> Dict[str, str]:
    """What DeepSpeed's prebuilt ops were compiled for, read from its install record (no deepspeed import)."""
    spec = _find("deepspeed")
    dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    for d in dirs:
        path = os.path.join(d, "git_version_info_installed.py")
        if os.path.isfile(path):
            ns: Dict[str, Any] = {}
            with open(path) as fh:
                exec(compile(fh.read(), path, "exec"), ns)  # plain assignments of literals
            installed = ns.get("installed_ops") or {}
            prebuilt = sorted(k for k, v in installed.items() if v)
            info = dict((k, str(v)) for k, v in (ns.get("torch_info") or {}).items())
            info["prebuilt_ops"] = ",".join(prebuilt)
            return info
    raise ImportError("deepspeed has no git_version_info_installed.py (ops are JIT-built when first used)")


# (name, top-level distribution module, how): imported in this order while the budget lasts
EXTENSIONS: Tuple[Tuple[str, str, Callable[[], Any]], ...] = (
    ("triton", "triton", _import("triton")),
    ("triton:libcuda", "triton", _triton_libcuda),
    ("xformers", "xformers", _import("xformers")),
    ("flash_attn_2_cuda", "flash_attn_2_cuda", _import("flash_attn_2_cuda")),
    ("vllm._C", "vllm", lambda: _load_extension_file("vllm._C", "vllm")),
    ("torchvision._C", "torchvision", lambda: _load_extension_file("torchvision._C", "torchvision")),
    ("bitsandbytes", "bitsandbytes", _import("bitsandbytes")),
    ("deepspeed:ops", "deepspeed", _deepspeed_ops),
)
PER_IMPORT_MAX = 15.0


def probe_extensions(torch: Any, torch_version: Optional[str], budget: float) -> List[Dict[str, Any]]:
    """Import each installed GPU extension under a total time budget; record verbatim errors."""
    results: List[Dict[str, Any]] = []
    deadline = time.monotonic() + budget
    stop_reason: Optional[str] = None
    for name, top, how in EXTENSIONS:
        if _find(top) is None:
            continue
        entry: Dict[str, Any] = {"name": name, "ok": None}
        results.append(entry)
        if stop_reason is not None:
            entry["error"] = stop_reason
            continue
        left = deadline - time.monotonic()
        if left <= 0.2:
            stop_reason = entry["error"] = "not tried: the probe's time budget was spent"
            continue
        timeout = min(left, PER_IMPORT_MAX)
        start = time.monotonic()
        old_out, old_err = sys.stdout, sys.stderr
        try:
            import io

            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
            with warnings.catch_warnings(record=True) as caught, _LogCatcher() as logs:
                warnings.simplefilter("always")
                kind, value = _run_bounded(how, timeout)
            printed = (sys.stderr.getvalue() + sys.stdout.getvalue()).strip()
        finally:
            sys.stdout, sys.stderr = old_out, old_err
        entry["seconds"] = round(time.monotonic() - start, 3)
        seen: List[str] = []
        for text in [str(w.message) for w in caught] + list(logs.records):
            if text and text not in seen:
                seen.append(text[:2000])
        if printed and not any(printed in s for s in seen):
            seen.append(printed[-2000:])
        entry["warnings"] = seen
        if kind == "ok":
            entry["ok"] = True
            if isinstance(value, dict):
                entry["info"] = value
        elif kind == "error":
            entry["ok"] = False
            entry["error"] = value[:4000]
        else:
            entry["error"] = "timed out after %.0fs" % timeout
            # a hung import may hold import locks: do not try the others
            stop_reason = "not tried: an earlier import (%s) hung" % name
    return results


def probe_python() -> Dict[str, Any]:
    prefix = sys.prefix
    return {
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "implementation": sys.implementation.name,
        "prefix": prefix,
        "venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV") or (prefix if os.path.isdir(os.path.join(prefix, "conda-meta")) else None),
    }


def _top_level_from_record(record: str) -> List[str]:
    """Importable top-level names a distribution installed, from its RECORD (namespace dirs excluded)."""
    tops: List[str] = []
    for line in record.splitlines():
        path = line.split(",", 1)[0].strip().strip('"')
        first, sep, rest = path.partition("/")
        if not first or first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".egg-info")):
            continue
        name = None
        if not sep:
            if first.endswith(".py"):
                name = first[:-3]
            elif first.endswith((".so", ".pyd")):
                name = first.split(".", 1)[0]
        elif rest == "__init__.py":
            name = first
        if name and not name.startswith("__editable__") and name not in tops:
            tops.append(name)
    return tops


def _search_path() -> List[str]:
    """sys.path without the launcher's own entry: `python -m llmdoctor` puts the cwd first (a source
    tree's *.egg-info would then look installed); the subprocess boot pops it the same way."""
    path = list(sys.path)
    if path and path[0] in ("", os.getcwd()) and "llmdoctor" in sys.modules:
        path = path[1:]
    return path


def _direct_url(dist: Any) -> Dict[str, Any]:
    """{"direct_url": url, "editable": bool} from PEP 610's direct_url.json; {} for an index install."""
    try:
        raw = dist.read_text("direct_url.json")
        doc = json.loads(raw) if raw else None
    except Exception:
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        return {}
    info = doc.get("dir_info")
    return {"direct_url": doc["url"], "editable": bool(isinstance(info, dict) and info.get("editable"))}


def probe_packages() -> Dict[str, Any]:
    from importlib import metadata

    dists: List[Dict[str, Any]] = []
    problems: List[str] = []
    seen: Set[str] = set()
    for dist in metadata.distributions(path=_search_path()):
        path = getattr(dist, "_path", None)
        where = str(path) if path is not None else "?"
        base = os.path.basename(where)
        if base.startswith("~"):
            # pip renames a package to ~name while it uninstalls; a leftover means an interrupted pip run
            problems.append("%s: leftover of an interrupted pip install/uninstall (pip ignores it; delete it)" % where)
            continue
        real = os.path.realpath(where) if path is not None else None
        if real is not None and real in seen:
            continue  # the same folder reached twice through sys.path
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception as exc:
            problems.append("%s: unreadable metadata (%s)" % (where, _err(exc)))
            continue
        if not name or not version:
            missing = "Name" if not name else "Version"
            problems.append("%s: metadata without %s (a partial or broken install)" % (where, missing))
            continue
        if real is not None:
            seen.add(real)
        location = str(path.parent) if path is not None else None
        try:
            requires = list(dist.requires or [])
        except Exception as exc:
            requires = []
            problems.append("%s: unreadable requirements (%s)" % (where, _err(exc)))
        try:
            installer = (dist.read_text("INSTALLER") or "").strip() or None
        except Exception:
            installer = None
        top: List[str] = []
        try:
            record = dist.read_text("RECORD")
            if record:
                top = _top_level_from_record(record)
        except Exception as exc:
            problems.append("%s: unreadable RECORD (%s)" % (where, _err(exc)))
        if not top:
            try:
                top = [t for t in (dist.read_text("top_level.txt") or "").split() if t]
            except Exception:
                top = []
        try:
            # pkg_resources-style namespace packages: shared on purpose by several distributions
            shared = set((dist.read_text("namespace_packages.txt") or "").split())
        except Exception:
            shared = set()
        if shared:
            top = [t for t in top if t not in shared]
        entry: Dict[str, Any] = {"name": name, "version": version, "location": location, "requires": requires,
                 "installer": installer, "top_level": top}
        entry.update(_direct_url(dist))
        dists.append(entry)
    dists.sort(key=lambda d: (d["name"].lower(), d["location"] or "", d["version"]))
    # sys_path: what was searched, so that the caller's cache knows which folders to watch
    return {"interpreter": sys.executable, "distributions": dists, "problems": problems, "sys_path": _search_path()}


def main(argv: List[str]) -> int:
    what = argv[1] if len(argv) > 1 else "torch"
    probes: Dict[str, Callable[[], Dict[str, Any]]] = {
        "torch": probe_torch, "packages": probe_packages, "python": probe_python}
    fn = probes.get(what)
    if fn is None:
        sys.stderr.write("unknown probe %r\n" % what)
        return 2
    try:
        result = fn()
    except BaseException as exc:  # noqa: BLE001
        result = {"worker_error": _err(exc)}
    # The marker separates our JSON from anything a library printed on stdout while importing.
    sys.stdout.write("\n@@LLMDOCTOR@@" + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    if _ABANDONED:  # an import still hangs in a thread: do not wait for it at interpreter exit
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
