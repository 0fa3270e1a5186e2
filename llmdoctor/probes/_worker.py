"""Standalone probe worker, run inside the *target* interpreter: ``python _worker.py torch|packages|python``.

It prints one JSON object on stdout.  It must not import llmdoctor (the target venv may not have it)
and must run on old Pythons (3.8+): no match statements, no ``X | Y`` annotations.
Everything it cannot learn is reported as an error string, never raised.
"""

import json
import os
import sys
import traceback
import warnings

CUDA_LIBS = ("libcudnn", "libnccl", "libcudart", "libcuda", "libcublas", "libnvrtc")


def _err(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _loaded_libraries():
    """Which CUDA libraries this process has mapped, from /proc/self/maps (Linux only)."""
    found = {}
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


def _torch_installs():
    dirs = []
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "torch", "__init__.py")
        if os.path.isfile(candidate):
            real = os.path.realpath(os.path.dirname(candidate))
            if real not in dirs:
                dirs.append(real)
    return dirs


def _nccl_version(torch):
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


def probe_torch():
    out = {"installed": False, "installs": _torch_installs()}
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return out
    except Exception as exc:
        out["import_error"] = _err(exc)
        return out
    out["installed"] = True
    caught = []
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
        devices = []
        if out.get("cuda_available"):
            for i in range(out.get("device_count") or 0):
                dev = {"index": i}
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
    return out


def probe_python():
    prefix = sys.prefix
    return {
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "implementation": sys.implementation.name,
        "prefix": prefix,
        "venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV") or (prefix if os.path.isdir(os.path.join(prefix, "conda-meta")) else None),
    }


def probe_packages():
    from importlib import metadata

    dists = []
    problems = []
    seen = set()
    for dist in metadata.distributions():
        path = getattr(dist, "_path", None)
        where = str(path) if path is not None else "?"
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception as exc:
            problems.append("%s: unreadable metadata (%s)" % (where, _err(exc)))
            continue
        if not name or not version:
            problems.append("%s: metadata without %s" % (where, "Name" if not name else "Version"))
            continue
        location = str(path.parent) if path is not None else None
        key = (name.lower(), location)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = list(dist.requires or [])
        except Exception as exc:
            requires = []
            problems.append("%s: unreadable requirements (%s)" % (where, _err(exc)))
        try:
            installer = (dist.read_text("INSTALLER") or "").strip() or None
        except Exception:
            installer = None
        try:
            top = [t for t in (dist.read_text("top_level.txt") or "").split() if t]
        except Exception:
            top = []
        dists.append({"name": name, "version": version, "location": location, "requires": requires,
                      "installer": installer, "top_level": top})
    dists.sort(key=lambda d: (d["name"].lower(), d["location"] or ""))
    return {"interpreter": sys.executable, "distributions": dists, "problems": problems}


def main(argv):
    what = argv[1] if len(argv) > 1 else "torch"
    fn = {"torch": probe_torch, "packages": probe_packages, "python": probe_python}.get(what)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
