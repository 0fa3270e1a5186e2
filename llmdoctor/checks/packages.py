"""Package compatibility for the GPU stack: the `pip check` that knows about torch and CUDA ABIs."""

from __future__ import annotations

import re

from packaging.requirements import Requirement

from ..engine import check
from ..facts import packages as P
from ..facts.packages import View
from ..results import Finding, fail, passed, unknown, warn
from ..snapshot import Distribution, Driver, Gpu, Host, Packages, Python, Torch, normalize_name

# distributions that are built against one torch (their binaries break with another)
TORCH_BOUND = ("torchvision", "torchaudio", "xformers", "flash-attn", "vllm", "torchtext", "torchdata",
               "torch-tensorrt", "deepspeed", "bitsandbytes", "unsloth", "torchao", "fbgemm-gpu", "flashinfer-python")


def _no_packages(snap: View) -> Finding:
    return unknown("the installed packages are unknown (not read)")


def _with_probed_torch(result: Finding | list[Finding], torch: Torch | None) -> Finding | list[Finding]:
    """A pass on the listing's torch when the torch that imports was not probed is not a pass (they can differ)."""
    findings = [result] if isinstance(result, Finding) else result
    if torch is not None or any(f.status.value != "pass" for f in findings):
        return result
    return unknown("which torch imports is unknown (torch was not probed); by the package listing alone: "
                   + "; ".join(f.message for f in findings))


def _pip_install(name: str, version: str | None) -> str:
    return f"pip install --force-reinstall --no-deps {name}=={version}" if version else f"pip install -U {name}"


# --------------------------------------------------------------------------- packages.torch-pins


@check("packages.torch-pins", "packages built for torch match the installed torch", known_errors=True)
def check_torch_pins(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
        driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Finding | list[Finding]:
    """Do the packages that are compiled against torch match the torch that is installed?

    torchvision, torchaudio, xformers, vLLM, flash-attn, DeepSpeed ops, Unsloth and friends ship C++/CUDA
    binaries built against one torch release.  Their wheel metadata pins it (`Requires-Dist:
    torch==2.6.0`), but `pip install --no-deps`, a later `pip install torch`, or two indexes mixing builds
    leave a different torch in place; pip does not stop you.  The symptoms come later:
    "xFormers can't load C++/CUDA extensions. xFormers was built for: PyTorch 2.6.0+cu124 ... (you have
    2.8.0+cu128)", "undefined symbol: _ZN3c10...", "operator torchvision::nms does not exist".

    Verifies, from the metadata of the target interpreter (importlib.metadata):
    - every installed distribution's `Requires-Dist: torch...` (markers evaluated for the target
      Python and platform) against the installed torch version;
    - the CUDA variant in local version tags (`torchvision 0.19.0+cu118` with `torch 2.4.0+cu121`), and
      the `cuXXXtorchX.Y` tag of flash-attn release wheels;
    - without metadata (text dumps): torchvision/torchaudio release pairing (data/packages.json);
    - the xFormers "built for PyTorch X (you have Y)" warning, live or pasted;
    - DeepSpeed ops prebuilt for another torch (its install record).

    Fix: install the build of the package made for your torch (same index URL as torch, e.g.
    `pip install torchvision==0.19.0 --index-url https://download.pytorch.org/whl/cu121`), or the torch it
    was built for.

    Sources: failure catalog E1 (unslothai/unsloth#1856, #1026; vllm-project/vllm#13116), E2
    (Dao-AILab/flash-attention#931), E3 (vllm-project/vllm#5501); pytorch/pytorch wiki "PyTorch Versions".
    """
    view = View(packages, torch, python, host, driver, gpus, errors)
    return _with_probed_torch(_torch_pins(view), torch)


def _torch_pins(snap: View) -> Finding | list[Finding]:
    findings: list[Finding] = []
    # 1. the xFormers warning (live import, or a pasted dump): decisive even without package metadata
    seen = set()
    for where, text in P.all_texts(snap):
        m = P.match("xformers-built-for", text)
        if m and (m.group("built"), m.group("have")) not in seen:
            seen.add((m.group("built"), m.group("have")))
            row = P.pattern("xformers-built-for")
            findings.append(fail(f"xformers was built for torch {m.group('built')} but torch {m.group('have')} is "
                                 f"installed: its C++/CUDA extensions do not load (memory-efficient attention, "
                                 f"SwiGLU and Flash/xformers paths fall back or fail)",
                                 {"built_for": m.group("built"), "installed": m.group("have"),
                                  "text": P.first_line(text), "from": where},
                                 remedy=f"Install the xformers release built for torch {m.group('have')} "
                                        f"(pip index of the same CUDA variant as torch, e.g. pip install -U xformers "
                                        f"--index-url https://download.pytorch.org/whl/<cu1XX>), or reinstall torch "
                                        f"{m.group('built')}.", subject="xformers"))
    if snap.packages is None:
        return findings or _no_packages(snap)
    tv = P.torch_version(snap)
    if tv is None:
        return findings or unknown("torch is not installed in this environment: no torch pins to check")
    env = P.marker_env(snap)
    torch_var = P.variant_of(P.local_tag(tv))
    tver = P.parse_version(tv)
    checked = []
    for dist in P.dists(snap):
        key = normalize_name(dist.name)
        if key == "torch":
            continue
        reqs = P.requires_torch(dist, env)
        for r in reqs:
            if r.applies is None:
                continue
            ok = P.contains(r.req, tv)
            checked.append(dist.name)
            if ok is False:
                compiled = key in TORCH_BOUND or any(s.operator in ("==", "===") for s in r.req.specifier)
                why = ("its compiled parts are built for another torch and fail to load (undefined symbols, missing "
                       "operators)" if compiled else "it relies on torch APIs of that range")
                findings.append(fail(f"{dist.name} {dist.version} requires {r.req.name}{r.req.specifier}, but torch {tv} "
                                     f"is installed: {why}",
                                     {"package": dist.name, "version": dist.version, "requires": r.text, "torch": tv},
                                     remedy=_pin_remedy(dist, r.req, tv), subject=dist.name))
        if not reqs and key in ("torchvision", "torchaudio") and tver is not None:
            want = _companion_version(key, tver)
            have = P.parse_version(dist.version)
            if want and have is not None:
                checked.append(dist.name)
                if (have.major, have.minor) != want:
                    findings.append(fail(f"{dist.name} {dist.version} pairs with another torch release than the "
                                         f"installed torch {tv} (expected {dist.name} {want[0]}.{want[1]}.x)",
                                         {"package": dist.name, "version": dist.version, "torch": tv,
                                          "expected": f"{want[0]}.{want[1]}"},
                                         remedy=f"pip install {dist.name}=={want[0]}.{want[1]}.* from the index torch "
                                                f"came from", subject=dist.name))
        # CUDA variant of local tags (torchvision 0.19.0+cu118 next to torch 2.4.0+cu121); an untagged PyPI
        # torch/torchvision on Linux x86_64 is a CUDA build
        torch_eff = torch_var or P.pypi_variant(snap, "torch", tv)
        if key in TORCH_BOUND and key != "flash-attn" and torch_eff is not None:
            var = P.variant_of(P.local_tag(dist.version)) or P.pypi_variant(snap, key, dist.version)
            if var is not None and var != torch_eff and not (var[0] == torch_eff[0] == "cu" and None in (var[1], torch_eff[1])):
                cross = var[0] != torch_eff[0] or P.cuda_major(var[1]) != P.cuda_major(torch_eff[1])
                make = fail if cross else warn
                label = P.local_tag(dist.version) or "CUDA (PyPI)"
                tlabel = P.local_tag(tv) or "CUDA (PyPI)"
                index = P.local_tag(tv) if torch_var else "<variant of torch>"
                findings.append(make(f"{dist.name} {dist.version} is a {label} build but torch {tv} is {tlabel}: " + (
                                         "their kernels cannot run together (the extension does not even load)" if cross
                                         else "two CUDA runtimes of one major version; it usually works but is not a "
                                         "tested combination"),
                                     {"package": dist.name, "version": dist.version, "torch": tv},
                                     remedy=f"Reinstall {dist.name} from torch's index: pip install --force-reinstall "
                                            f"--no-deps {dist.name}=={dist.version.split('+')[0]} --index-url "
                                            f"https://download.pytorch.org/whl/{index}",
                                     subject=dist.name))
        # flash-attn release wheels: 2.6.3+cu123torch2.4cxx11abiFALSE
        if key == "flash-attn" and tver is not None:
            m = re.search(P.table("flash_attn_local_tag")["pattern"], P.local_tag(dist.version) or "", re.I)
            if m:
                checked.append(dist.name)
                built = m.group("torch")
                if built != f"{tver.major}.{tver.minor}":
                    findings.append(fail(f"flash-attn {dist.version} was built for torch {built}, but torch {tv} is "
                                         f"installed: importing it fails with 'undefined symbol'",
                                         {"package": dist.name, "version": dist.version, "built_for_torch": built,
                                          "torch": tv},
                                         remedy=f"Install the flash-attn wheel built for torch {tver.major}.{tver.minor} "
                                                f"(same CUDA major and cxx11abi as torch), or build it: pip install "
                                                f"flash-attn --no-build-isolation", subject=dist.name))
                elif torch_var is not None and torch_var[0] == "cu" and \
                        P.cuda_major(int(m.group("cuda"))) != P.cuda_major(torch_var[1]):
                    findings.append(fail(f"flash-attn {dist.version} was built with CUDA {m.group('cuda')}, but torch "
                                         f"{tv} uses another CUDA major version: its kernels do not load",
                                         {"package": dist.name, "version": dist.version, "torch": tv},
                                         remedy="Install the flash-attn wheel of torch's CUDA major version (the "
                                                "cu12x wheels serve every CUDA 12 torch).", subject=dist.name))
    # DeepSpeed ops prebuilt for another torch
    for e in (snap.torch.extensions or ()) if snap.torch is not None else ():
        if e.name == "deepspeed:ops" and e.ok and e.info and e.info.get("prebuilt_ops") and e.info.get("version"):
            built = e.info["version"]
            if tver is not None and built != f"{tver.major}.{tver.minor}":
                findings.append(fail(f"DeepSpeed's prebuilt ops ({e.info['prebuilt_ops']}) were compiled for torch "
                                     f"{built}, but torch {tv} is installed: they fail to load",
                                     {"built_for_torch": built, "torch": tv, "ops": e.info["prebuilt_ops"]},
                                     remedy="Reinstall DeepSpeed so that its ops are rebuilt for this torch: "
                                            "DS_BUILD_OPS=1 pip install --force-reinstall --no-cache-dir deepspeed "
                                            "(or drop DS_BUILD_OPS to let them JIT-compile)", subject="deepspeed"))
    if findings:
        return findings
    if not checked:
        return passed(f"torch {tv} is installed; no installed package pins torch")
    uniq = sorted(set(checked), key=str.lower)
    return passed(f"{len(uniq)} package(s) built for torch match torch {tv}: {', '.join(uniq)}", {"checked": uniq})


def _companion_version(key: str, tver) -> tuple[int, int] | None:
    for row in P.table("torch_companions")["rows"]:
        if row["package"] == key and tver.major == row["torch_major"]:
            if key == "torchvision":
                return 0, tver.minor + row["offset"]
            return tver.major, tver.minor + row["offset"]
    return None


def _pin_remedy(dist: Distribution, req: Requirement, torch_version: str) -> str:
    exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
    tag = P.local_tag(torch_version)
    index = f" --index-url https://download.pytorch.org/whl/{tag}" if P.variant_of(tag) else ""
    key = normalize_name(dist.name)
    options = []
    if key in ("torchvision", "torchaudio"):
        tv = P.parse_version(torch_version)
        want = _companion_version(key, tv) if tv is not None else None
        if want:
            options.append(f"pip install '{dist.name}=={want[0]}.{want[1]}.*'{index}")
    else:
        options.append(f"install the {dist.name} release built for torch {torch_version.split('+')[0]}")
    if exact:
        options.append(f"or the torch it was built for: pip install torch=={exact[0]}{index}")
    text = "; ".join(options) + "."
    return text[0].upper() + text[1:]


# --------------------------------------------------------------------------- packages.imports


@check("packages.imports", "installed GPU extensions import next to torch", known_errors=True)
def check_imports(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
        driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Finding | list[Finding]:
    """Do the installed GPU extensions actually load next to this torch?

    Metadata can be right and the binary still wrong (a wheel built for another torch minor, C++11 ABI or
    CUDA).  The torch probe, after importing torch in the target interpreter, imports each installed
    extension (triton, xformers, flash_attn_2_cuda, bitsandbytes; vllm._C and torchvision._C loaded
    directly from their files, without running the packages' heavy __init__) with a time budget (the
    probe's timeout; a hung import stops the others) and records the exact error and warnings.  Each known error text is mapped to its
    cause and fix: "undefined symbol: _ZN3c10..." (built for another torch), "xFormers was built for
    PyTorch X", "compiled without GPU support" (bitsandbytes CPU library), "CUDA is not linked properly".
    Error texts pasted from a run (`--from` dumps, `--error`) are recognised the same way.

    A timed-out import is a warning (not verified); extensions that are not installed are not tried.
    Without importing anything: bitsandbytes before 0.43.0 on Windows has no GPU support (no official
    Windows CUDA binaries).

    Sources: failure catalog E1, E2, E3, E7, E8; Dao-AILab/flash-attention#931, #853; vllm-project/vllm#5501;
    bitsandbytes-foundation/bitsandbytes#564, #942.
    """
    snap = View(packages, torch, python, host, driver, gpus, errors)
    t = snap.torch
    findings: list[Finding] = _platform_notes(snap)
    gpu = P.gpu_host(snap)
    exts = t.extensions if t is not None else None
    if exts:
        for e in exts:
            if e.name in ("triton:libcuda", "deepspeed:ops"):
                continue  # look-ups, not imports: packages.triton and packages.torch-pins report them
            if e.ok is None:
                if e.error and e.error.startswith("timed out"):
                    findings.append(warn(f"importing {e.name} {e.error}; whether it works is unknown",
                                         {"module": e.name, "error": e.error},
                                         remedy=f"Time it yourself: python -X importtime -c 'import {e.name}'",
                                         subject=e.name))
                else:
                    findings.append(unknown(f"{e.name}: {e.error or 'not tried'}", {"module": e.name}, subject=e.name))
                continue
            texts = ([e.error] if e.error else []) + list(e.warnings)
            explained = None
            for text in texts:
                explained = P.explain(text)
                if explained:
                    break
            if e.ok is False or explained:
                findings.append(_import_finding(e.name, e.ok, texts, explained, gpu))
            else:
                findings.append(passed(f"{e.name} imports" + (f" ({e.seconds:.1f}s)" if e.seconds else ""),
                                       {"module": e.name, "seconds": e.seconds}, subject=e.name))
    else:
        # no live imports: a pasted error text can still be explained
        for where, text in P.all_texts(snap):
            explained = P.explain(text)
            if explained and explained[0]["id"] in ("undefined-symbol", "no-gpu-support", "missing-torch-lib"):
                f = _import_finding(_module_in(text) or "an extension", False, [text], explained, gpu)
                if all(f.message != g.message for g in findings):
                    findings.append(f)
        if not findings:
            if t is None:
                return unknown("torch is unknown (not read), so its extensions were not tried")
            if not t.installed:
                return unknown("torch is not installed: no GPU extensions to import")
            if t.import_error:
                return unknown("torch fails to import (see torch.build), so its extensions were not tried")
            if exts == ():
                return passed("no GPU extensions (xformers, flash-attn, vLLM, bitsandbytes, triton, DeepSpeed) are installed")
            return unknown("extension imports were not probed (an older snapshot or a dump without them)")
    return findings


def _platform_notes(snap: View) -> list[Finding]:
    """Releases known to have no GPU support on this platform (data/packages.json platform_notes)."""
    out: list[Finding] = []
    if snap.packages is None:
        return out
    plat = P.marker_env(snap).get("platform_system")
    for row in P.table("platform_notes")["rows"]:
        d = snap.packages.get(row["package"])
        dv = P.parse_version(d.version) if d else None
        if d is not None and dv is not None and plat and plat.lower() == row["platform"] and dv < P.parse_version(row["below"]):
            out.append(fail(f"{d.name} {d.version} on {plat}: {row['message']}", {"source": row["source"]},
                            remedy=row["fix"], subject=d.name))
    return out


def _module_in(text: str) -> str | None:
    m = re.search(r"(?:/(\w+))?/(\w+)(?:\.cpython[^/\s]*|\.abi3)?\.(?:so|pyd)\b", text)
    if not m:
        return None
    # vllm/_C.abi3.so -> vllm._C (a private extension is named after its package)
    return f"{m.group(1)}.{m.group(2)}" if m.group(2).startswith("_") and m.group(1) else m.group(2)


def _import_finding(name: str, ok: bool | None, texts: list[str], explained, gpu: bool | None) -> Finding:
    text = texts[0] if texts else ""
    package = P.table("extension_packages")["map"].get(name, name)
    evidence = {"module": name, "package": package, "error": P.first_line(text, 600)}
    if explained is None:
        return fail(f"{name} fails to import: {P.first_line(text, 200)}", evidence,
                    remedy=f"Reinstall {package} for the installed torch (pip install --force-reinstall --no-cache-dir "
                           f"{package}), or rebuild it against this torch.", subject=name)
    row, groups = explained
    groups = {**groups, "package": package}
    if row["id"] == "no-gpu-support" and gpu is False:
        return passed(f"{name} loaded its CPU library, as expected on a host without an NVIDIA GPU", evidence,
                      subject=name)
    verb = "imports, but" if ok else "fails to import:"
    fix = P.fmt(row["fix"].replace("<package>", "{package}"), groups)
    return fail(f"{name} {verb} {P.fmt(row['cause'], groups)}", {**evidence, "cause": row["id"]},
                remedy=fix[0].upper() + fix[1:] + ".", subject=name)


# --------------------------------------------------------------------------- packages.numpy-abi


@check("packages.numpy-abi", "NumPy 2 with packages built for NumPy 1", known_errors=True)
def check_numpy_abi(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
        driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Finding | list[Finding]:
    """Is NumPy 2 installed next to packages built for (or pinned to) NumPy 1?

    NumPy 2.0 changed the C ABI: binaries compiled against NumPy 1.x fail to import or crash with
    "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0 as it may crash"
    (torch: "Failed to initialize NumPy: _ARRAY_API not found", `.numpy()` fails).  pip installs NumPy 2
    as soon as one package allows it.

    Verifies: with numpy >= 2, every installed distribution whose requirements exclude NumPy 2
    (`numpy<2`), and packages known to be built for NumPy 1 below a version (data/packages.json:
    torch < 2.3, torchvision < 0.19); the NumPy 1.x error text from a run.

    Fix: `pip install "numpy<2"`, or upgrade the package built for NumPy 1.

    Sources: failure catalog E6 (vllm-project/vllm#5594); pytorch/pytorch#107302; numpy/numpy#26191.
    """
    snap = View(packages, torch, python, host, driver, gpus, errors)
    findings: list[Finding] = []
    for where, text in P.all_texts(snap):
        m = P.match("numpy1-abi", text)
        if m:
            findings.append(fail(f"a module compiled for NumPy 1.x was loaded with NumPy {m.group('numpy')}: it may "
                                 f"crash or fail", {"text": P.first_line(text), "from": where},
                                 remedy="pip install 'numpy<2', or upgrade the module built for NumPy 1 (see the "
                                        "traceback for which one)."))
            break
    if snap.packages is None:
        return findings or _no_packages(snap)
    numpy = snap.packages.get("numpy")
    if numpy is None:
        return findings or unknown("numpy is not installed in this environment")
    nv = P.parse_version(numpy.version)
    if nv is None:
        return findings or unknown(f"numpy {numpy.version} is not a PEP 440 version; cannot compare")
    if nv.major < 2:
        return findings or passed(f"numpy {numpy.version} (1.x): extensions built for NumPy 1 or 2 both work")
    env = P.marker_env(snap)
    bad = []
    for dist in P.dists(snap):
        for r in P.requirements(dist, env):
            if r.req is None or r.applies is not True or normalize_name(r.req.name) != "numpy":
                continue
            if P.contains(r.req, numpy.version) is False and r.req.specifier.contains("1.26.4"):
                bad.append((dist, f"requires {r.text}"))
    for row in P.table("numpy1_only")["rows"]:
        d = snap.packages.get(row["package"])
        dv = P.parse_version(d.version) if d else None
        fixed = P.parse_version(row["fixed_in"])
        if d is not None and dv is not None and dv.release[:2] < fixed.release[:2]:
            if not any(b[0] is d for b in bad):
                bad.append((d, f"built against NumPy 1.x before {row['package']} {row['fixed_in']} ({row['source'].split(';')[0]})"))
    for dist, why in bad:
        findings.append(fail(f"{dist.name} {dist.version} {why}, but numpy {numpy.version} is installed: it fails "
                             f"with 'A module that was compiled using NumPy 1.x cannot be run in NumPy 2'",
                             {"package": dist.name, "version": dist.version, "numpy": numpy.version},
                             remedy=f"pip install 'numpy<2' (or upgrade {dist.name} to a release built for NumPy 2).",
                             subject=dist.name))
    return findings or passed(f"numpy {numpy.version}: no installed package is pinned to or known to be built for NumPy 1")


# --------------------------------------------------------------------------- packages.triton


TRITON_NAMES = ("triton", "pytorch-triton", "triton-windows")


@check("packages.triton", "triton matches torch and finds libcuda", known_errors=True)
def check_triton(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
        driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Finding | list[Finding]:
    """Is the triton that torch.compile (and Unsloth, vLLM, xformers kernels) will use the right one?

    - Each torch release's Linux wheel pins one triton (`Requires-Dist: triton==3.1.0`).  Another triton
      breaks Inductor: "cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'".
    - triton compiles kernels at run time and links them with `-lcuda`: it needs the unversioned
      `libcuda.so` (ldconfig, or TRITON_LIBCUDA_PATH).  Without it: "/usr/bin/ld: cannot find -lcuda",
      Unsloth's "CUDA is not linked properly".  The torch probe runs triton's own libcuda search.

    Fix: `pip install triton==<torch's pin>`; for libcuda, `sudo ldconfig` or
    `export TRITON_LIBCUDA_PATH=/usr/lib/wsl/lib` (WSL).

    Sources: failure catalog E4 (woct0rdho/triton-windows#97), E5 (pytorch/pytorch#94585,
    state-spaces/mamba#123, triton-lang/triton PR#1981); torch pins in data/packages.json (pytorch/pytorch#130336 ...).
    """
    view = View(packages, torch, python, host, driver, gpus, errors)
    return _with_probed_torch(_triton(view), torch)


def _triton(snap: View) -> Finding | list[Finding]:
    findings: list[Finding] = []
    gpu = P.gpu_host(snap)
    for where, text in P.all_texts(snap):
        if where == "triton:libcuda":
            continue  # judged below, knowing whether there is a GPU
        for pid in ("cuda-not-linked", "triton-attrsdescriptor"):
            if P.match(pid, text):
                row = P.pattern(pid)
                findings.append(fail(f"triton: {row['cause']}", {"text": P.first_line(text), "from": where},
                                     remedy=row["fix"][0].upper() + row["fix"][1:] + ".", subject="triton"))
    if findings:
        findings = [findings[i] for i in range(len(findings)) if findings[i].message not in
                    {f.message for f in findings[:i]}]
    exts = {e.name: e for e in (snap.torch.extensions or ())} if snap.torch is not None else {}
    lib = exts.get("triton:libcuda")
    if lib is not None and not findings:
        if lib.ok:
            findings.append(passed(f"triton finds libcuda in {lib.info.get('libcuda_dirs') if lib.info else '?'}",
                                   dict(lib.info or {}), subject="libcuda"))
        elif lib.ok is False:
            if gpu is False:
                findings.append(passed("triton finds no libcuda, as expected on a host without an NVIDIA driver",
                                       {"error": P.first_line(lib.error or "")}, subject="libcuda"))
            else:
                row = P.pattern("cuda-not-linked")
                findings.append(fail(f"triton cannot find libcuda.so ({P.first_line(lib.error or '', 150)}): "
                                     f"torch.compile and triton kernels fail to build ('cannot find -lcuda', Unsloth's "
                                     f"'CUDA is not linked properly')", {"error": P.first_line(lib.error or "", 600)},
                                     remedy=row["fix"][0].upper() + row["fix"][1:] + ".", subject="libcuda"))
    if snap.packages is None:
        return findings or _no_packages(snap)
    by = P.by_name(snap)
    tritons = [d for n in TRITON_NAMES for d in by.get(n, [])]
    torch = P.torch_dist(snap)
    tv = P.torch_version(snap)
    if tv is None:
        if tritons:
            findings.append(passed(f"{', '.join(P.names(tritons))} installed without torch: nothing to match"))
        return findings or unknown("torch is not installed in this environment")
    env = P.marker_env(snap)
    pins = []
    if torch is not None:
        pins = [r for r in P.requirements(torch, env)
                if r.req is not None and normalize_name(r.req.name) in TRITON_NAMES and r.applies is not False]
    if pins:
        pin = pins[0]
        if pin.applies is None:
            findings.append(unknown(f"torch requires {pin.text}; whether that applies to this platform is unknown"))
            return findings
        name = normalize_name(pin.req.name)
        have = by.get(name, [])
        if not have:
            others = P.names(tritons)
            findings.append(fail(f"torch {tv} requires {pin.req.name}{pin.req.specifier}, which is not installed"
                                 + (f" ({', '.join(others)} is)" if others else "") +
                                 ": torch.compile and triton kernels cannot run",
                                 {"requires": pin.text, "installed": others},
                                 remedy=f"pip install '{pin.req.name}{pin.req.specifier}'", subject="triton"))
        else:
            d = have[0]
            if P.contains(pin.req, d.version) is False:
                pinned = [P.parse_version(s.version) for s in pin.req.specifier if s.operator == "=="]
                dv = P.parse_version(d.version)
                same_minor = bool(pinned and pinned[0] and dv and pinned[0].release[:2] == dv.release[:2])
                findings.append((warn if same_minor else fail)(f"torch {tv} requires {pin.req.name}{pin.req.specifier}, but {d.name} {d.version} is "
                                     f"installed: torch.compile/Inductor fails (e.g. \"cannot import name "
                                     f"'AttrsDescriptor'\")", {"requires": pin.text, "installed": d.version},
                                     remedy=f"pip install '{pin.req.name}{pin.req.specifier}'", subject="triton"))
            else:
                findings.append(passed(f"{d.name} {d.version} is the one torch {tv} requires ({pin.text.split(';')[0]})",
                                       {"requires": pin.text, "installed": d.version}, subject="triton"))
        return findings
    # no pin in torch's metadata (CPU/Windows wheel, conda, a dump): fall back to the release table
    if not tritons:
        return findings or passed(f"torch {tv} does not require triton here and none is installed")
    tver = P.parse_version(tv)
    want = None
    if tver is not None:
        for row in P.table("torch_triton")["rows"]:
            if row["torch"] == f"{tver.major}.{tver.minor}":
                want = row
    d = tritons[0]
    dv = P.parse_version(d.version)
    if tver is not None and tver.is_prerelease:
        findings.append(unknown(f"torch {tv} is a pre-release/nightly: it pins its own pytorch-triton build, and its "
                             f"metadata is not in the snapshot"))
    elif want is None or dv is None:
        findings.append(unknown(f"{d.name} {d.version} with torch {tv}: torch's triton pin is unknown (no metadata, "
                             f"release not in data/packages.json)"))
    elif f"{dv.major}.{dv.minor}" != want["triton"]:
        findings.append(warn(f"{d.name} {d.version} is installed, but torch {tver.major}.{tver.minor} releases ship "
                             f"with triton {want['triton']}: torch.compile may fail", {"expected": want["triton"],
                                                                                      "source": want["source"]},
                             remedy=f"pip install 'triton=={want['triton']}.*'", subject="triton"))
    else:
        findings.append(passed(f"{d.name} {d.version} matches torch {tver.major}.{tver.minor} (triton {want['triton']})"))
    return findings


# --------------------------------------------------------------------------- packages.duplicates


@check("packages.duplicates", "one distribution per import name; no deprecated NVML bindings")
def check_duplicates(packages: Packages) -> Finding | list[Finding]:
    """Is each module provided by exactly one installed distribution?

    Two distributions that install the same module overwrite each other's files; which one you get
    depends on install order and sys.path.  Common cases: torch from pip and from conda in one
    environment (or a user-site copy), `pynvml` next to `nvidia-ml-py` (both install `pynvml`), the four
    opencv-python variants (all install `cv2`: "SELECT ONLY ONE OF THEM"), the same distribution in two
    site-packages folders.  Also flags the deprecated `pynvml` distribution (torch warns "The pynvml
    package is deprecated. Please install nvidia-ml-py instead") and the unmaintained `nvidia-ml-py3`.

    Import names come from each distribution's RECORD (top_level.txt as a fallback); namespace packages
    such as `nvidia` are shared on purpose and ignored.

    Fix: uninstall all providers, then install one (`pip uninstall -y pynvml nvidia-ml-py &&
    pip install nvidia-ml-py`).

    Sources: opencv-python README, opencv/opencv-python#388; snowflakedb/ArcticTraining#285;
    KernelTuner/kernel_tuner#127; failure catalog D2 (several torch installs).
    """
    snap = View(packages)
    findings: list[Finding] = []
    by = P.by_name(snap)
    for key, ds in sorted(by.items()):
        # the same version in the same folder twice (Debian ships *.egg-info next to *.dist-info) is one copy
        if len({(d.location, d.version) for d in ds}) > 1:
            findings.append(warn(f"{ds[0].name} is installed {len(ds)} times: " +
                                 "; ".join(f"{d.version} in {d.location or '?'}" + (f" ({d.installer})" if d.installer else "")
                                           for d in ds) + ". Which one imports depends on sys.path order",
                                 {"copies": [{"version": d.version, "location": d.location, "installer": d.installer}
                                             for d in ds]},
                                 remedy=f"Uninstall every copy (pip uninstall {ds[0].name}, repeated until none is "
                                        f"left; conda remove for conda's) and install one.", subject=ds[0].name))
    shared = set(P.table("shared_namespaces")["names"])
    providers: dict[str, dict[str, Distribution]] = {}
    for d in P.dists(snap):
        for mod in d.top_level:
            if mod in shared or mod.startswith("_"):
                continue
            providers.setdefault(mod, {}).setdefault(normalize_name(d.name), d)
    for row in P.table("module_groups")["rows"]:
        for spec in row["packages"]:
            req = Requirement(spec)
            for d in by.get(normalize_name(req.name), []):
                if not req.specifier or P.contains(req, d.version):
                    providers.setdefault(row["module"], {}).setdefault(normalize_name(d.name), d)
    for mod, ds in sorted(providers.items()):
        if len(ds) > 1:
            listed = sorted(ds.values(), key=lambda d: d.name.lower())
            findings.append(warn(f"{len(ds)} distributions install the module '{mod}': {', '.join(P.names(listed))}; "
                                 f"they overwrite each other's files and the result is a mix",
                                 {"module": mod, "distributions": P.names(listed)},
                                 remedy=f"pip uninstall -y {' '.join(d.name for d in listed)} and install only one of "
                                        f"them.", subject=mod))
    for row in P.table("deprecated")["rows"]:
        for d in by.get(normalize_name(row["package"]), []):
            findings.append(warn(f"{d.name} {d.version} is deprecated: {row['message']}",
                                 {"package": d.name, "version": d.version, "source": row["source"]},
                                 remedy=f"pip uninstall -y {d.name} && pip install {row['replacement']} (and ask the "
                                        f"package that required {d.name} to switch: pip show {d.name} lists it under "
                                        f"Required-by)", subject=d.name))
    return findings or passed(f"{len(P.dists(snap))} distributions: each import name has one provider, nothing deprecated")


# --------------------------------------------------------------------------- packages.pip-check


@check("packages.pip-check", "installed distributions' requirements are met (pip check)")
def check_pip_check(packages: Packages, python: Python | None, host: Host | None,
        driver: Driver | None) -> Finding | list[Finding]:
    """What `pip check` would report, computed from metadata without running pip.

    For every installed distribution, each requirement in its metadata (extras ignored, environment
    markers evaluated for the TARGET interpreter's Python version and platform as recorded in the
    snapshot) must be installed in a version its specifier allows (pre-releases allowed, like pip).
    Requirements whose marker needs a fact the snapshot lacks are not judged.  Broken or partial
    dist-info folders (no METADATA, no Name/Version, leftover `~name` folders of an interrupted pip
    run) and requirement strings that are not valid PEP 508 are reported too.

    A conflict is a warning here: many are harmless.  The ones that break GPU stacks have their own
    checks (packages.torch-pins, packages.triton, packages.numpy-abi) and fail there.

    Fix: install what is missing; for a conflict, install a version that satisfies both
    (`pip install 'pkg>=X,<Y'`), or upgrade the package that pins too tightly.

    Sources: pip's own check (pip/_internal/operations/check.py: missing and conflicting dependencies,
    markers evaluated with extra=""); PEP 508; packaging.requirements.
    """
    snap = View(packages, python=python, host=host, driver=driver)
    if snap.packages is None:
        return _no_packages(snap)
    all_dists = P.dists(snap)
    if all_dists and not any(d.requires for d in all_dists) and not snap.packages.problems:
        return unknown(f"the snapshot lists {len(all_dists)} distribution(s) but none of their requirements "
                    f"(Requires-Dist): nothing to check (a dump, or an older snapshot)")
    env = P.marker_env(snap)
    by = P.by_name(snap)
    missing, conflicts, invalid, undecided = [], [], [], []
    for dist in P.dists(snap):
        for r in P.requirements(dist, env):
            if r.req is None:
                invalid.append(f"{dist.name} {dist.version}: {r.text!r}")
                continue
            if r.applies is None:
                undecided.append(f"{dist.name}: {r.text}")
                continue
            if not r.applies:
                continue
            have = by.get(normalize_name(r.req.name))
            if not have:
                missing.append((dist, r))
                continue
            ok = [P.contains(r.req, h.version) for h in have]
            if not any(o is True for o in ok) and any(o is False for o in ok):
                conflicts.append((dist, r, have[0]))
    findings: list[Finding] = []
    for dist, r in missing:
        findings.append(warn(f"{dist.name} {dist.version} requires {r.req.name}, which is not installed",
                             {"package": dist.name, "requires": r.text},
                             remedy=f"pip install '{str(r.req).split(';')[0].strip()}'", subject=dist.name))
    for dist, r, have in conflicts:
        findings.append(warn(f"{dist.name} {dist.version} has requirement {str(r.req).split(';')[0].strip()}, "
                             f"but {have.name} {have.version} is installed",
                             {"package": dist.name, "requires": r.text, "installed": have.version},
                             remedy=f"pip install '{str(r.req).split(';')[0].strip()}' (check what else needs "
                                    f"{have.name}: pip show {have.name})", subject=dist.name))
    if invalid:
        findings.append(warn(f"{len(invalid)} requirement(s) in installed metadata are not valid PEP 508 and were not "
                             f"checked: {'; '.join(invalid[:5])}", {"invalid": invalid},
                             remedy="Upgrade or reinstall the packages named (their metadata is malformed)."))
    problems = snap.packages.problems
    if problems:
        findings.append(warn(f"{len(problems)} broken or partial distribution folder(s): {'; '.join(problems[:5])}",
                             {"problems": list(problems)},
                             remedy="Delete the folders named (and reinstall the package if you need it); pip prints "
                                    "'WARNING: Ignoring invalid distribution' for these."))
    if findings:
        return findings
    note = f" ({len(undecided)} requirement(s) with markers the snapshot cannot evaluate were not judged)" if undecided else ""
    return passed(f"all requirements of {len(P.dists(snap))} installed distributions are met{note}",
                  {"undecided": undecided} if undecided else None)
