"""Package compatibility for the GPU stack: the `pip check` that knows about torch and CUDA ABIs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from packaging.requirements import Requirement
from packaging.version import Version

from .. import data
from ..engine import check
from ..facts import packages as pkg
from ..facts.packages import Req, View
from ..results import Finding, Status, fail, not_applicable, passed, unknown, warn
from ..snapshot import Distribution, Driver, ExtensionImport, Gpu, Host, Packages, Python, Torch, normalize_name
from ..frozen import frozen

# distributions that are built against one torch (their binaries break with another)
TORCH_BOUND = ("torchvision", "torchaudio", "xformers", "flash-attn", "vllm", "torchtext", "torchdata",
               "torch-tensorrt", "deepspeed", "bitsandbytes", "unsloth", "torchao", "fbgemm-gpu", "flashinfer-python")
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
PIP_CHECK_DOCS = "https://pip.pypa.io/en/stable/cli/pip_check/"

Result = Finding | list[Finding]


def _as_list(result: Result) -> list[Finding]:
    return [result] if isinstance(result, Finding) else list(result)


def _all_pass(findings: Iterable[Finding]) -> bool:
    return all(f.status is Status.PASS for f in findings)


def _settle(result: Result, view: View, needs_probe: bool = False) -> Result:
    """A pass stands only on facts that were read: not on a partial listing, nor (``needs_probe``) on the
    listing's torch when the torch that imports was not probed (the two can differ)."""
    findings = _as_list(result)
    if not findings or not _all_pass(findings):
        return result
    said = "; ".join(f.message for f in findings)
    if needs_probe and view.torch is None:
        return unknown(f"which torch imports is unknown (torch was not probed); by the package listing alone: {said}")
    if view.packages is not None and view.packages.complete is False:
        return unknown(f"the package listing is partial (pip show, or a list cut short), so packages it does not "
                       f"name are unknown; of those it names: {said}")
    return result


def _needs_metadata(result: Result, view: View, field: str, what: str) -> Result:
    """A pass that rests on per-distribution metadata (``requires``, ``top_level``) the listing does not carry
    (a text dump, an older snapshot) is not a pass: say what could be checked and what is unknown."""
    findings = _as_list(result)
    if not findings or not _all_pass(findings) or any(getattr(d, field) for d in pkg.dists(view)):
        return result
    kind = "requirement metadata (Requires-Dist)" if field == "requires" else "import names (RECORD, top_level.txt)"
    return unknown(f"the package listing carries no {kind}, so {what} is unknown; what could be checked: "
                   + "; ".join(f.message for f in findings))


def _no_packages() -> Finding:
    return unknown("the installed packages are unknown (not read)")


def _listed(view: View) -> bool:
    """Whether an unlisted distribution is known to be absent (a complete listing)."""
    return view.packages is not None and view.packages.complete is not False


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text


# --------------------------------------------------------------------------- packages.torch-pins


@check("packages.torch-pins", "packages built for torch match the installed torch", known_errors=True)
def check_torch_pins(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
                     driver: Driver | None, errors: tuple[str, ...]) -> Result:
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

    A partial listing (`pip show`) or an unprobed torch cannot make it pass: the verdict is unknown.

    Fix: install the build of the package made for your torch (same index URL as torch, e.g.
    `pip install torchvision==0.19.0 --index-url https://download.pytorch.org/whl/cu121`), or the torch it
    was built for.

    Sources: unslothai/unsloth#1856, #1026; vllm-project/vllm#13116; Dao-AILab/flash-attention#931;
    vllm-project/vllm#5501; https://github.com/pytorch/pytorch/wiki/PyTorch-Versions.
    """
    view = View(packages, torch, python, host, driver, None, errors)
    findings = _xformers_built_for(view)
    if packages is None:
        return findings or _no_packages()
    tv = pkg.torch_version(view)
    if tv is None:
        return findings or _no_torch(view)
    ctx = _TorchContext.of(view, tv)
    checked: list[str] = []
    for dist in pkg.dists(view):
        if normalize_name(dist.name) != "torch":
            found, judged = _judge_torch_bound(dist, ctx)
            findings += found
            checked += [dist.name] if judged else []
    findings += _deepspeed_ops(view, ctx)
    if findings:
        return findings
    result = _needs_metadata(_torch_pins_pass(tv, checked), view, "requires", "which packages pin torch")
    return _settle(result, view, needs_probe=True)


def _torch_pins_pass(tv: str, checked: list[str]) -> Finding:
    if not checked:
        return passed(f"torch {tv} is installed; no installed package pins torch")
    uniq = sorted(set(checked), key=str.lower)
    return passed(f"{len(uniq)} package(s) built for torch match torch {tv}: {', '.join(uniq)}", {"checked": uniq})


def _no_torch(view: View) -> Finding:
    if view.torch is not None and not view.torch.installed:
        return not_applicable("torch is not installed in this environment: no torch pins to check")
    if view.torch is None and _listed(view):
        return not_applicable("torch is not in the package list: no torch pins to check")
    return unknown("torch was not probed and the partial package listing does not name it")


def _xformers_built_for(view: View) -> list[Finding]:
    findings, seen = [], set()
    for where, text in pkg.all_texts(view):
        m = pkg.match("xformers-built-for", text)
        if not m or (m.group("built"), m.group("have")) in seen:
            continue
        built, have = m.group("built"), m.group("have")
        seen.add((built, have))
        variant = data.local_tag(have)
        commands = [f"pip install -U xformers --index-url {PYTORCH_INDEX}{variant}"] if pkg.variant_of(variant) else []
        findings.append(fail(f"xformers was built for torch {built} but torch {have} is installed: its C++/CUDA "
                             "extensions do not load (memory-efficient attention, SwiGLU and Flash/xformers paths "
                             "fall back or fail)",
                             {"built_for": built, "installed": have, "text": pkg.first_line(text), "from": where},
                             remedy=f"Install the xformers release built for torch {have} (from the index of "
                                    f"torch's CUDA variant), or reinstall torch {built}.",
                             commands=commands, subject="xformers"))
    return findings


@frozen
class _TorchContext:
    """The installed torch as the per-package rules compare against it."""

    version: str
    parsed: Version | None
    variant: tuple[str, int | None] | None  # from its local tag
    effective: tuple[str, int | None] | None  # the tag's, else PyPI's default (CUDA on Linux x86_64)
    env: dict[str, str]
    view: View

    @classmethod
    def of(cls, view: View, version: str) -> "_TorchContext":
        variant = pkg.variant_of(data.local_tag(version))
        return cls(version, pkg.parse_version(version), variant,
                   variant or pkg.pypi_variant(view, "torch", version), pkg.marker_env(view), view)

    @property
    def index(self) -> str | None:
        """torch's download.pytorch.org index, when its local tag names one."""
        tag = data.local_tag(self.version)
        return f"{PYTORCH_INDEX}{tag}" if self.variant else None


def _judge_torch_bound(dist: Distribution, ctx: _TorchContext) -> tuple[list[Finding], bool]:
    """(findings, whether the package was judged against torch) for one installed distribution."""
    findings: list[Finding] = []
    judged = False
    for rule in (_requires_torch, _companion_release, _cuda_variant, _flash_attn_tag):
        found, ran = rule(dist, ctx)
        findings += found
        judged = judged or ran
    return findings, judged


def _requires_torch(dist: Distribution, ctx: _TorchContext) -> tuple[list[Finding], bool]:
    findings, judged = [], False
    for r in pkg.requires_torch(dist, ctx.env):
        if r.applies is None or r.req is None:
            continue
        judged = True
        if pkg.contains(r.req, ctx.version) is not False:
            continue
        compiled = normalize_name(dist.name) in TORCH_BOUND or any(s.operator in ("==", "===") for s in r.req.specifier)
        why = ("its compiled parts are built for another torch and fail to load (undefined symbols, missing "
               "operators)" if compiled else "it relies on torch APIs of that range")
        text, commands = _pin_remedy(dist, r.req, ctx)
        findings.append(fail(f"{dist.name} {dist.version} requires {r.req.name}{r.req.specifier}, but torch "
                             f"{ctx.version} is installed: {why}",
                             {"package": dist.name, "version": dist.version, "requires": r.text, "torch": ctx.version},
                             remedy=text, commands=commands, subject=dist.name))
    return findings, judged


def _companion_release(dist: Distribution, ctx: _TorchContext) -> tuple[list[Finding], bool]:
    """torchvision/torchaudio without metadata (a dump): the release pairing table."""
    key = normalize_name(dist.name)
    if key not in ("torchvision", "torchaudio") or dist.requires or ctx.parsed is None:
        return [], False
    want = _companion_version(key, ctx.parsed)
    have = pkg.parse_version(dist.version)
    if want is None or have is None:
        return [], False
    if (have.major, have.minor) == want:
        return [], True
    index = f" --index-url {ctx.index}" if ctx.index else ""
    return [fail(f"{dist.name} {dist.version} pairs with another torch release than the installed torch "
                 f"{ctx.version} (expected {dist.name} {want[0]}.{want[1]}.x)",
                 {"package": dist.name, "version": dist.version, "torch": ctx.version,
                  "expected": f"{want[0]}.{want[1]}"},
                 remedy=f"Install the {dist.name} release that pairs with torch {ctx.version}, from the index torch "
                        "came from.", commands=[f"pip install '{dist.name}=={want[0]}.{want[1]}.*'{index}"],
                 subject=dist.name)], True


def _cuda_variant(dist: Distribution, ctx: _TorchContext) -> tuple[list[Finding], bool]:
    """Local tags of another CUDA variant (torchvision 0.19.0+cu118 next to torch 2.4.0+cu121)."""
    key = normalize_name(dist.name)
    torch_eff = ctx.effective
    if key not in TORCH_BOUND or key == "flash-attn" or torch_eff is None:
        return [], False
    var = pkg.variant_of(data.local_tag(dist.version)) or pkg.pypi_variant(ctx.view, key, dist.version)
    if var is None or var == torch_eff or (var[0] == torch_eff[0] == "cu" and None in (var[1], torch_eff[1])):
        return [], False
    cross = var[0] != torch_eff[0] or pkg.cuda_major(var[1]) != pkg.cuda_major(torch_eff[1])
    label = data.local_tag(dist.version) or "CUDA (PyPI)"
    tlabel = data.local_tag(ctx.version) or "CUDA (PyPI)"
    consequence = ("their kernels cannot run together (the extension does not even load)" if cross else
                   "two CUDA runtimes of one major version; it usually works but is not a tested combination")
    commands = ([f"pip install --force-reinstall --no-deps {dist.name}=={dist.version.split('+')[0]} "
                 f"--index-url {ctx.index}"] if ctx.index else [])
    make = fail if cross else warn
    return [make(f"{dist.name} {dist.version} is a {label} build but torch {ctx.version} is {tlabel}: {consequence}",
                 {"package": dist.name, "version": dist.version, "torch": ctx.version},
                 remedy=f"Reinstall {dist.name} from the index torch came from (its CUDA variant).",
                 commands=commands, subject=dist.name)], False


def _flash_attn_tag(dist: Distribution, ctx: _TorchContext) -> tuple[list[Finding], bool]:
    """flash-attn release wheels: 2.6.3+cu123torch2.4cxx11abiFALSE."""
    if normalize_name(dist.name) != "flash-attn" or ctx.parsed is None:
        return [], False
    m = re.search(pkg.table("flash_attn_local_tag")["pattern"], data.local_tag(dist.version) or "", re.I)
    if not m:
        return [], False
    tver = ctx.parsed
    ev = {"package": dist.name, "version": dist.version, "built_for_torch": m.group("torch"), "torch": ctx.version}
    if m.group("torch") != f"{tver.major}.{tver.minor}":
        return [fail(f"flash-attn {dist.version} was built for torch {m.group('torch')}, but torch {ctx.version} is "
                     "installed: importing it fails with 'undefined symbol'", ev,
                     remedy=f"Install the flash-attn wheel built for torch {tver.major}.{tver.minor} (same CUDA major "
                            "and cxx11abi as torch), or build it against this torch.",
                     commands=["pip install flash-attn --no-build-isolation"], subject=dist.name)], True
    variant = ctx.variant
    if variant is not None and variant[0] == "cu" and pkg.cuda_major(int(m.group("cuda"))) != pkg.cuda_major(variant[1]):
        return [fail(f"flash-attn {dist.version} was built with CUDA {m.group('cuda')}, but torch {ctx.version} uses "
                     "another CUDA major version: its kernels do not load", ev,
                     remedy="Install the flash-attn wheel of torch's CUDA major version (the cu12x wheels serve "
                            "every CUDA 12 torch).", subject=dist.name)], True
    return [], True


def _deepspeed_ops(view: View, ctx: _TorchContext) -> list[Finding]:
    """DeepSpeed ops prebuilt for another torch (its install record, read by the torch probe)."""
    findings = []
    tver = ctx.parsed
    for e in (view.torch.extensions or ()) if view.torch is not None else ():
        info = e.info or {}
        if e.name != "deepspeed:ops" or not e.ok or not info.get("prebuilt_ops") or not info.get("version"):
            continue
        if tver is not None and info["version"] != f"{tver.major}.{tver.minor}":
            findings.append(fail(f"DeepSpeed's prebuilt ops ({info['prebuilt_ops']}) were compiled for torch "
                                 f"{info['version']}, but torch {ctx.version} is installed: they fail to load",
                                 {"built_for_torch": info["version"], "torch": ctx.version,
                                  "ops": info["prebuilt_ops"]},
                                 remedy="Reinstall DeepSpeed so that its ops are rebuilt for this torch (or drop "
                                        "DS_BUILD_OPS to let them JIT-compile).",
                                 commands=["DS_BUILD_OPS=1 pip install --force-reinstall --no-cache-dir deepspeed"],
                                 subject="deepspeed"))
    return findings


def _companion_version(key: str, tver: Version) -> tuple[int, int] | None:
    for row in pkg.table("torch_companions")["rows"]:
        if row["package"] == key and tver.major == row["torch_major"]:
            if key == "torchvision":
                return 0, tver.minor + row["offset"]
            return tver.major, tver.minor + row["offset"]
    return None


def _pin_remedy(dist: Distribution, req: Requirement, ctx: _TorchContext) -> tuple[str, list[str]]:
    """(text, commands): the package built for this torch, or the torch it was built for."""
    exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
    index = f" --index-url {ctx.index}" if ctx.index else ""
    key = normalize_name(dist.name)
    commands = []
    want = _companion_version(key, ctx.parsed) if key in ("torchvision", "torchaudio") and ctx.parsed else None
    if want:
        commands.append(f"pip install '{dist.name}=={want[0]}.{want[1]}.*'{index}")
    text = f"Install the {dist.name} release built for torch {ctx.version.split('+')[0]}"
    if exact:
        text += f", or the torch it was built for (torch {exact[0]})"
        commands.append(f"pip install torch=={exact[0]}{index}")
    return text + ".", commands


# --------------------------------------------------------------------------- packages.imports


@check("packages.imports", "installed GPU extensions import next to torch", known_errors=True)
def check_imports(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
                  driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Result:
    """Do the installed GPU extensions actually load next to this torch?

    Metadata can be right and the binary still wrong (a wheel built for another torch minor, C++11 ABI or
    CUDA).  The torch probe, after importing torch in the target interpreter, imports each installed
    extension (triton, xformers, flash_attn_2_cuda, bitsandbytes; vllm._C and torchvision._C loaded
    directly from their files, without running the packages' heavy __init__) with a time budget (the
    probe's timeout; a hung import stops the others) and records the exact error and warnings.  Each
    known error text is mapped to its cause and fix: "undefined symbol: _ZN3c10..." (built for another
    torch), "xFormers was built for PyTorch X", "compiled without GPU support" (bitsandbytes CPU library),
    "CUDA is not linked properly".  Error texts pasted from a run (`--from` dumps, `--error`) are
    recognised the same way.  A missing shared library is mapped to the wheel that ships it
    (libcudnn* -> nvidia-cudnn-cu12, ...); a library no wheel ships gets no pip command.

    A timed-out import is a warning (not verified); extensions that are not installed are not tried.
    Without importing anything: bitsandbytes before 0.43.0 on Windows has no GPU support (no official
    Windows CUDA binaries).

    Sources: Dao-AILab/flash-attention#931, #853; vllm-project/vllm#5501;
    bitsandbytes-foundation/bitsandbytes#564, #942.
    """
    view = View(packages, torch, python, host, driver, gpus, errors)
    findings = _platform_notes(view)
    gpu = pkg.gpu_host(view)
    exts = torch.extensions if torch is not None else None
    if exts:
        return findings + _live_imports(exts, gpu, torch)
    findings += _pasted_imports(view, gpu)
    return findings or _imports_not_tried(torch)


def _live_imports(exts: Iterable[ExtensionImport], gpu: bool | None, torch: Torch | None) -> list[Finding]:
    findings = []
    for e in exts:
        if e.name in ("triton:libcuda", "deepspeed:ops"):
            continue  # look-ups, not imports: packages.triton and packages.torch-pins report them
        if e.ok is None:
            findings.append(_not_imported(e))
            continue
        texts = ([e.error] if e.error else []) + list(e.warnings)
        explained = next((x for x in map(pkg.explain, texts) if x), None)
        if e.ok is False or explained:
            findings.append(_import_finding(e.name, e.ok, texts, explained, gpu, torch))
        else:
            findings.append(passed(f"{e.name} imports" + (f" ({e.seconds:.1f}s)" if e.seconds else ""),
                                   {"module": e.name, "seconds": e.seconds}, subject=e.name))
    return findings


def _not_imported(e: ExtensionImport) -> Finding:
    if e.error and e.error.startswith("timed out"):
        return warn(f"importing {e.name} {e.error}; whether it works is unknown", {"module": e.name, "error": e.error},
                    remedy="Time the import yourself.", commands=[f"python -X importtime -c 'import {e.name}'"],
                    subject=e.name)
    return unknown(f"{e.name}: {e.error or 'not tried'}", {"module": e.name}, subject=e.name)


def _pasted_imports(view: View, gpu: bool | None) -> list[Finding]:
    """No live imports: a pasted error text can still be explained."""
    findings: list[Finding] = []
    for _where, text in pkg.all_texts(view):
        explained = pkg.explain(text)
        if not explained or explained[0]["id"] not in ("undefined-symbol", "no-gpu-support", "missing-torch-lib"):
            continue
        module = _module_in(text)
        if module and pkg.is_library(module):
            if explained[0]["id"] == "undefined-symbol":
                continue  # a library (libcudnn_cnn_train.so) that does not match its siblings: not an extension
            module = None  # only a library is named: which extension it is is unknown
        f = _import_finding(module or "an extension", False, [text], explained, gpu, view.torch)
        if all(f.message != g.message for g in findings):
            findings.append(f)
    return findings


def _imports_not_tried(torch: Torch | None) -> Finding:
    if torch is None:
        return unknown("torch is unknown (not probed), so its extensions were not tried")
    if not torch.installed:
        return not_applicable("torch is not installed: no GPU extensions to import")
    if torch.import_error:
        return unknown("torch fails to import (see torch.build), so its extensions were not tried")
    if torch.extensions == ():
        return not_applicable("no GPU extensions (xformers, flash-attn, vLLM, bitsandbytes, triton, DeepSpeed) are "
                              "installed")
    return unknown("extension imports were not probed (an older snapshot or a dump without them)")


def _platform_notes(view: View) -> list[Finding]:
    """Releases known to have no GPU support on this platform (data/packages.json platform_notes)."""
    out: list[Finding] = []
    if view.packages is None:
        return out
    plat = pkg.marker_env(view).get("platform_system")
    for row in pkg.table("platform_notes")["rows"]:
        d = view.packages.get(row["package"])
        dv = pkg.parse_version(d.version) if d else None
        below = pkg.parse_version(row["below"])
        if d is not None and dv is not None and below is not None and plat and plat.lower() == row["platform"] \
                and dv < below:
            out.append(fail(f"{d.name} {d.version} on {plat}: {row['message']}", {"source": row["source"]},
                            remedy=f"Upgrade {d.name}.", commands=[row["fix"]], subject=d.name))
    return out


def _module_in(text: str) -> str | None:
    m = re.search(r"(?:/(\w+))?/(\w+)(?:\.cpython[^/\s]*|\.abi3)?\.(?:so|pyd)\b", text)
    if not m:
        return None
    # vllm/_C.abi3.so -> vllm._C (a private extension is named after its package)
    return f"{m.group(1)}.{m.group(2)}" if m.group(2).startswith("_") and m.group(1) else m.group(2)


def _cuda_major(torch: Torch | None) -> int | None:
    cuda = torch.cuda if torch is not None else None
    head = (cuda or "").split(".")[0]
    return int(head) if head.isdigit() else None


def _import_finding(name: str, ok: bool | None, texts: list[str],
                    explained: tuple[dict[str, Any], dict[str, str]] | None, gpu: bool | None,
                    torch: Torch | None) -> Finding:
    text = texts[0] if texts else ""
    package = pkg.distribution_for(name, _cuda_major(torch)) if name != "an extension" else None
    if explained is not None and explained[0]["id"] == "missing-lib":
        # the missing library comes from the wheel that ships it (libcudart.so.12 -> nvidia-cuda-runtime-cu12)
        lib = explained[1].get("lib", "").split(".so")[0]
        package = pkg.distribution_for(lib, _cuda_major(torch)) if lib else None
    evidence = {"module": name, "package": package, "error": pkg.first_line(text, 600)}
    if explained is None:
        return fail(f"{name} fails to import: {pkg.first_line(text, 200)}", evidence,
                    remedy=_reinstall_text(name, package),
                    commands=[f"pip install --force-reinstall --no-cache-dir {package}"] if package else [],
                    subject=name)
    row, groups = explained
    if row["id"] == "no-gpu-support" and gpu is False:
        return passed(f"{name} loaded its CPU library, as expected on a host without an NVIDIA GPU", evidence,
                      subject=name)
    verb = "imports, but" if ok else "fails to import:"
    variant = data.local_tag(torch.version) if torch is not None else None
    text_fix, commands = pkg.remedy_for(row, {**groups, "package": package or "",
                                              "variant": variant if variant and pkg.variant_of(variant) else ""})
    return fail(f"{name} {verb} {pkg.fmt(row['cause'], groups)}", {**evidence, "cause": row["id"]},
                remedy=_sentence(text_fix), commands=commands, subject=name)


def _reinstall_text(name: str, package: str | None) -> str:
    if package:
        return f"Reinstall {package} for the installed torch, or rebuild it against this torch."
    return (f"{name} is not a Python distribution; install the package that ships it (see the error), or fix the "
            "library search path.")


# --------------------------------------------------------------------------- packages.numpy-abi


@check("packages.numpy-abi", "no package built for NumPy 1 runs with NumPy 2", known_errors=True)
def check_numpy_abi(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
                    driver: Driver | None, errors: tuple[str, ...]) -> Result:
    """Is NumPy 2 installed next to packages built for (or pinned to) NumPy 1?

    NumPy 2.0 changed the C ABI: binaries compiled against NumPy 1.x fail to import or crash with
    "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0 as it may crash"
    (torch: "Failed to initialize NumPy: _ARRAY_API not found", `.numpy()` fails).  pip installs NumPy 2
    as soon as one package allows it.

    Verifies: with numpy >= 2, every installed distribution whose requirements exclude NumPy 2
    (`numpy<2`), and packages known to be built for NumPy 1 below a version (data/packages.json:
    torch < 2.3, torchvision < 0.19); the NumPy 1.x error text from a run.

    Fix: `pip install "numpy<2"`, or upgrade the package built for NumPy 1.

    Sources: vllm-project/vllm#5594; pytorch/pytorch#107302; numpy/numpy#26191.
    """
    view = View(packages, torch, python, host, driver, None, errors)
    findings = _numpy1_error_text(view)
    if packages is None:
        return findings or _no_packages()
    numpy = packages.get("numpy")
    if numpy is None:
        return findings or (not_applicable("numpy is not installed in this environment") if _listed(view) else
                            unknown("numpy is not in the partial package listing"))
    nv = pkg.parse_version(numpy.version)
    if nv is None:
        return findings or unknown(f"numpy {numpy.version} is not a PEP 440 version; cannot compare")
    if nv.major < 2:
        return findings or passed(f"numpy {numpy.version} (1.x): extensions built for NumPy 1 or 2 both work")
    findings += [_numpy1_finding(dist, why, numpy) for dist, why in _numpy1_bound(view, numpy)]
    ok = passed(f"numpy {numpy.version}, and no installed package is pinned to or known to be built for NumPy 1")
    return findings or _settle(_needs_metadata(ok, view, "requires", "which packages exclude NumPy 2"), view)


def _numpy1_error_text(view: View) -> list[Finding]:
    for where, text in pkg.all_texts(view):
        m = pkg.match("numpy1-abi", text)
        if m:
            return [fail(f"a module compiled for NumPy 1.x was loaded with NumPy {m.group('numpy')}: it may crash or "
                         "fail", {"text": pkg.first_line(text), "from": where},
                         remedy="Install NumPy 1, or upgrade the module built for NumPy 1 (the traceback names it).",
                         commands=["pip install 'numpy<2'"])]
    return []


def _numpy1_bound(view: View, numpy: Distribution) -> list[tuple[Distribution, str]]:
    env = pkg.marker_env(view)
    bad: list[tuple[Distribution, str]] = []
    for dist in pkg.dists(view):
        for r in pkg.requirements(dist, env):
            if r.req is None or r.applies is not True or normalize_name(r.req.name) != "numpy":
                continue
            if pkg.contains(r.req, numpy.version) is False and r.req.specifier.contains("1.26.4"):
                bad.append((dist, f"requires {r.text}"))
    for row in pkg.table("numpy1_only")["rows"]:
        d = view.packages.get(row["package"]) if view.packages is not None else None
        dv = pkg.parse_version(d.version) if d else None
        fixed = pkg.parse_version(row["fixed_in"])
        if d is not None and dv is not None and fixed is not None and dv.release[:2] < fixed.release[:2] \
                and not any(b[0] is d for b in bad):
            bad.append((d, f"built against NumPy 1.x before {row['package']} {row['fixed_in']}"))
    return bad


def _numpy1_finding(dist: Distribution, why: str, numpy: Distribution) -> Finding:
    return fail(f"{dist.name} {dist.version} {why}, but numpy {numpy.version} is installed: it fails with 'A module "
                "that was compiled using NumPy 1.x cannot be run in NumPy 2'",
                {"package": dist.name, "version": dist.version, "numpy": numpy.version},
                remedy=f"Install NumPy 1 (or upgrade {dist.name} to a release built for NumPy 2).",
                commands=["pip install 'numpy<2'"], subject=dist.name)


# --------------------------------------------------------------------------- packages.triton


TRITON_NAMES = ("triton", "pytorch-triton", "triton-windows")


@check("packages.triton", "triton matches torch and finds libcuda", known_errors=True)
def check_triton(packages: Packages | None, torch: Torch | None, python: Python | None, host: Host | None,
                 driver: Driver | None, gpus: tuple[Gpu, ...] | None, errors: tuple[str, ...]) -> Result:
    """Is the triton that torch.compile (and Unsloth, vLLM, xformers kernels) will use the right one?

    - Each torch release's Linux wheel pins one triton (`Requires-Dist: triton==3.1.0`).  Another triton
      breaks Inductor: "cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'".
    - triton compiles kernels at run time and links them with `-lcuda`: it needs the unversioned
      `libcuda.so` (ldconfig, or TRITON_LIBCUDA_PATH).  Without it: "/usr/bin/ld: cannot find -lcuda",
      Unsloth's "CUDA is not linked properly".  The torch probe runs triton's own libcuda search.

    Not applicable where no triton is installed and torch does not require one.  A partial listing that
    does not name triton leaves it unknown.

    Fix: `pip install triton==<torch's pin>`; for libcuda, `sudo ldconfig` or
    `export TRITON_LIBCUDA_PATH=/usr/lib/wsl/lib` (WSL).

    Sources: woct0rdho/triton-windows#97; pytorch/pytorch#94585; state-spaces/mamba#123;
    triton-lang/triton#1981; torch's triton pins in data/packages.json (pytorch/pytorch#130336 ...).
    """
    view = View(packages, torch, python, host, driver, gpus, errors)
    findings = _dedupe(_triton_error_texts(view))
    libcuda = None if findings else _libcuda_lookup(view)
    if packages is None:
        return findings + ([libcuda] if libcuda else []) or _no_packages()
    tv = pkg.torch_version(view)
    if tv is None:
        return findings + ([libcuda] if libcuda else []) or _no_torch(view)
    findings += [f for f in (libcuda, _triton_match(view, tv)) if f is not None]
    return _settle(findings, view, needs_probe=True)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    out: list[Finding] = []
    for f in findings:
        if all(f.message != g.message for g in out):
            out.append(f)
    return out


def _pattern_finding(pid: str, message: str, evidence: Mapping[str, Any], subject: str) -> Finding:
    text, commands = pkg.remedy_for(pkg.pattern(pid), {})
    return fail(message, evidence, remedy=_sentence(text), commands=commands, subject=subject)


def _triton_error_texts(view: View) -> list[Finding]:
    findings = []
    for where, text in pkg.all_texts(view):
        if where == "triton:libcuda":
            continue  # judged with the look-up, knowing whether there is a GPU
        for pid in ("cuda-not-linked", "triton-attrsdescriptor"):
            if pkg.match(pid, text):
                findings.append(_pattern_finding(pid, f"triton: {pkg.pattern(pid)['cause']}",
                                                 {"text": pkg.first_line(text), "from": where}, "triton"))
    return findings


def _libcuda_lookup(view: View) -> Finding | None:
    exts = {e.name: e for e in (view.torch.extensions or ())} if view.torch is not None else {}
    lib = exts.get("triton:libcuda")
    if lib is None or lib.ok is None:
        return None
    if lib.ok:
        where = (lib.info or {}).get("libcuda_dirs", "?")
        return passed(f"triton finds libcuda in {where}", dict(lib.info or {}), subject="libcuda")
    if pkg.gpu_host(view) is False:
        return passed("triton finds no libcuda, as expected on a host without an NVIDIA driver",
                      {"error": pkg.first_line(lib.error or "")}, subject="libcuda")
    return _pattern_finding("cuda-not-linked", f"triton cannot find libcuda.so ({pkg.first_line(lib.error or '', 150)}): "
                            "torch.compile and triton kernels fail to build ('cannot find -lcuda', Unsloth's 'CUDA is "
                            "not linked properly')", {"error": pkg.first_line(lib.error or "", 600)}, "libcuda")


def _triton_match(view: View, tv: str) -> Finding:
    """torch's own pin (its metadata), else the release table; None when there is nothing to match."""
    by = pkg.by_name(view)
    tritons = [d for n in TRITON_NAMES for d in by.get(n, [])]
    torch = pkg.torch_dist(view)
    env = pkg.marker_env(view)
    pins = [] if torch is None else [r for r in pkg.requirements(torch, env) if r.req is not None
                                     and normalize_name(r.req.name) in TRITON_NAMES and r.applies is not False]
    if pins:
        return _judge_pin(pins[0], by, tritons, tv, _listed(view))
    if not tritons:
        if not _listed(view):
            return unknown(f"torch {tv}'s triton requirement is unknown (no metadata) and the partial listing does "
                           "not name triton", subject="triton")
        return not_applicable(f"no triton is installed and torch {tv} does not require one here", subject="triton")
    return _judge_release_table(tritons[0], tv)


def _judge_pin(pin: Req, by: Mapping[str, list[Distribution]], tritons: list[Distribution], tv: str,
               complete: bool) -> Finding:
    req = pin.req
    assert req is not None
    if pin.applies is None:
        return unknown(f"torch requires {pin.text}; whether that applies to this platform is unknown",
                       subject="triton")
    have = by.get(normalize_name(req.name), [])
    command = f"pip install '{req.name}{req.specifier}'"
    if not have and not complete:
        return unknown(f"torch {tv} requires {req.name}{req.specifier}; the partial package listing does not show "
                       "whether it is installed", {"requires": pin.text}, subject="triton")
    if not have:
        others = pkg.names(tritons)
        return fail(f"torch {tv} requires {req.name}{req.specifier}, which is not installed"
                    + (f" ({', '.join(others)} is)" if others else "") + ": torch.compile and triton kernels cannot run",
                    {"requires": pin.text, "installed": others}, remedy=f"Install the {req.name} torch requires.",
                    commands=[command], subject="triton")
    d = have[0]
    if pkg.contains(req, d.version) is not False:
        return passed(f"{d.name} {d.version} is the one torch {tv} requires ({pin.text.split(';')[0]})",
                      {"requires": pin.text, "installed": d.version}, subject="triton")
    pinned = [pkg.parse_version(s.version) for s in req.specifier if s.operator == "=="]
    dv = pkg.parse_version(d.version)
    same_minor = bool(pinned and pinned[0] and dv and pinned[0].release[:2] == dv.release[:2])
    make: Callable[..., Finding] = warn if same_minor else fail
    return make(f"torch {tv} requires {req.name}{req.specifier}, but {d.name} {d.version} is installed: "
                "torch.compile/Inductor fails (e.g. \"cannot import name 'AttrsDescriptor'\")",
                {"requires": pin.text, "installed": d.version}, remedy=f"Install the {req.name} torch requires.",
                commands=[command], subject="triton")


def _judge_release_table(d: Distribution, tv: str) -> Finding:
    """No pin in torch's metadata (CPU/Windows wheel, conda, a dump): the release table."""
    tver, dv = pkg.parse_version(tv), pkg.parse_version(d.version)
    want = next((row for row in pkg.table("torch_triton")["rows"]
                 if tver is not None and row["torch"] == f"{tver.major}.{tver.minor}"), None)
    if tver is not None and tver.is_prerelease:
        return unknown(f"torch {tv} is a pre-release/nightly: it pins its own pytorch-triton build, and its metadata "
                       "is not in the snapshot", subject="triton")
    if tver is None or want is None or dv is None:
        return unknown(f"{d.name} {d.version} with torch {tv}: torch's triton pin is unknown (no metadata, and the "
                       "release is not in llmdoctor's torch/triton table)", subject="triton")
    if f"{dv.major}.{dv.minor}" != want["triton"]:
        return warn(f"{d.name} {d.version} is installed, but torch {tver.major}.{tver.minor} releases ship with triton "
                    f"{want['triton']}: torch.compile may fail", {"expected": want["triton"], "source": want["source"]},
                    remedy="Install the triton torch's release ships with.",
                    commands=[f"pip install 'triton=={want['triton']}.*'"], subject="triton")
    return passed(f"{d.name} {d.version} matches torch {tver.major}.{tver.minor} (triton {want['triton']})",
                  subject="triton")


# --------------------------------------------------------------------------- packages.duplicates


@check("packages.duplicates", "one distribution per import name; no deprecated NVML bindings")
def check_duplicates(packages: Packages) -> Result:
    """Is each module provided by exactly one installed distribution?

    Two distributions that install the same module overwrite each other's files; which one you get
    depends on install order and sys.path.  Common cases: torch from pip and from conda in one
    environment (or a user-site copy), `pynvml` next to `nvidia-ml-py` (both install `pynvml`), the four
    opencv-python variants (all install `cv2`: "SELECT ONLY ONE OF THEM"), the same distribution in two
    site-packages folders.  Also flags the deprecated `pynvml` distribution (torch warns "The pynvml
    package is deprecated. Please install nvidia-ml-py instead") and the unmaintained `nvidia-ml-py3`.

    Import names come from each distribution's RECORD (top_level.txt as a fallback); namespace packages
    such as `nvidia` are shared on purpose and ignored.  A partial listing cannot make it pass.

    Fix: uninstall all providers, then install one (`pip uninstall -y pynvml nvidia-ml-py &&
    pip install nvidia-ml-py`).

    Sources: opencv-python README, opencv/opencv-python#388; snowflakedb/ArcticTraining#285;
    KernelTuner/kernel_tuner#127.
    """
    view = View(packages)
    by = pkg.by_name(view)
    findings = [_copies_finding(ds) for _key, ds in sorted(by.items()) if len({(d.location, d.version) for d in ds}) > 1]
    findings += [_providers_finding(mod, ds) for mod, ds in sorted(_providers(view, by).items()) if len(ds) > 1]
    findings += _deprecated_dists(by)
    if findings:
        return findings
    ok = passed(f"{len(pkg.dists(view))} distributions: each import name has one provider, nothing deprecated")
    return _settle(_needs_metadata(ok, view, "top_level", "whether two of them install the same module"), view)


def _copies_finding(ds: list[Distribution]) -> Finding:
    # the same version in the same folder twice (Debian ships *.egg-info next to *.dist-info) is one copy
    where = "; ".join(f"{d.version} in {d.location or '?'}" + (f" ({d.installer})" if d.installer else "") for d in ds)
    return warn(f"{ds[0].name} is installed {len(ds)} times: {where}. Which one imports depends on sys.path order",
                {"copies": [{"version": d.version, "location": d.location, "installer": d.installer} for d in ds]},
                remedy="Uninstall every copy (repeat until none is left; conda remove for conda's) and install one.",
                commands=[f"pip uninstall -y {ds[0].name}"], subject=ds[0].name)


def _providers(view: View, by: Mapping[str, list[Distribution]]) -> dict[str, dict[str, Distribution]]:
    shared = set(pkg.table("shared_namespaces")["names"])
    providers: dict[str, dict[str, Distribution]] = {}
    for d in pkg.dists(view):
        for mod in d.top_level:
            if mod not in shared and not mod.startswith("_"):
                providers.setdefault(mod, {}).setdefault(normalize_name(d.name), d)
    for row in pkg.table("module_groups")["rows"]:
        for spec in row["packages"]:
            req = Requirement(spec)
            for d in by.get(normalize_name(req.name), []):
                if not req.specifier or pkg.contains(req, d.version):
                    providers.setdefault(row["module"], {}).setdefault(normalize_name(d.name), d)
    return providers


def _providers_finding(mod: str, ds: Mapping[str, Distribution]) -> Finding:
    listed = sorted(ds.values(), key=lambda d: d.name.lower())
    names = " ".join(d.name for d in listed)
    return warn(f"{len(ds)} distributions install the module '{mod}': {', '.join(pkg.names(listed))}; they overwrite "
                "each other's files and the result is a mix", {"module": mod, "distributions": pkg.names(listed)},
                remedy="Uninstall all of them, then install only one.", commands=[f"pip uninstall -y {names}"],
                subject=mod)


def _deprecated_dists(by: Mapping[str, list[Distribution]]) -> list[Finding]:
    findings = []
    for row in pkg.table("deprecated")["rows"]:
        for d in by.get(normalize_name(row["package"]), []):
            findings.append(warn(f"{d.name} {d.version} is deprecated: {row['message']}",
                                 {"package": d.name, "version": d.version, "source": row["source"]},
                                 remedy=f"Replace it with {row['replacement']} (and ask the package that required "
                                        f"{d.name} to switch: `pip show {d.name}` lists it under Required-by).",
                                 commands=[f"pip uninstall -y {d.name} && pip install {row['replacement']}"],
                                 subject=d.name))
    return findings


# --------------------------------------------------------------------------- packages.pip-check


@dataclass
class _PipCheck:
    missing: list[tuple[Distribution, Req]]
    conflicts: list[tuple[Distribution, Req, Distribution]]
    invalid: list[str]
    undecided: list[str]


@check("packages.pip-check", "installed distributions' requirements are met (pip check)")
def check_pip_check(packages: Packages, python: Python | None, host: Host | None, driver: Driver | None) -> Result:
    """What `pip check` would report, computed from metadata without running pip.

    For every installed distribution, each requirement in its metadata (extras ignored, environment
    markers evaluated for the TARGET interpreter's Python version and platform as recorded in the
    snapshot) must be installed in a version its specifier allows (pre-releases allowed, like pip).
    Requirements whose marker needs a fact the snapshot lacks are not judged.  Broken or partial
    dist-info folders (no METADATA, no Name/Version, leftover `~name` folders of an interrupted pip
    run) and requirement strings that are not valid PEP 508 are reported too.  On a partial listing
    (`pip show`, a list cut short) a requirement it does not name is unknown, not missing.

    A conflict is a warning here: many are harmless.  The ones that break GPU stacks have their own
    checks (packages.torch-pins, packages.triton, packages.numpy-abi) and fail there.

    Fix: install what is missing; for a conflict, install a version that satisfies both
    (`pip install 'pkg>=X,<Y'`), or upgrade the package that pins too tightly.

    Sources: pip's own check (pypa/pip src/pip/_internal/operations/check.py: missing and conflicting
    dependencies, markers evaluated with extra=""; https://pip.pypa.io/en/stable/cli/pip_check/); PEP 508.
    """
    view = View(packages, python=python, host=host, driver=driver)
    all_dists = pkg.dists(view)
    if all_dists and not any(d.requires for d in all_dists) and not packages.problems:
        return unknown(f"the snapshot lists {len(all_dists)} distribution(s) but none of their requirements "
                       "(Requires-Dist): nothing to check (a dump, or an older snapshot)")
    result = _pip_check(view)
    unlisted = [] if _listed(view) else result.missing
    missing = result.missing if _listed(view) else []
    findings = [_missing_finding(d, r) for d, r in missing] + [_conflict_finding(*c) for c in result.conflicts]
    findings += _invalid_findings(result.invalid, packages.problems)
    if unlisted:
        findings.append(unknown(f"{len(unlisted)} requirement(s) are not in the partial package listing, so whether "
                                f"they are installed is unknown: {', '.join(sorted({r.text for _d, r in unlisted}))}",
                                {"unlisted": sorted({r.text for _d, r in unlisted})}))
    if findings:
        return findings
    note = (f" ({len(result.undecided)} requirement(s) with markers the snapshot cannot evaluate were not judged)"
            if result.undecided else "")
    return passed(f"all requirements of {len(all_dists)} installed distributions are met{note}",
                  {"undecided": result.undecided} if result.undecided else None)


def _pip_check(view: View) -> _PipCheck:
    env = pkg.marker_env(view)
    by = pkg.by_name(view)
    out = _PipCheck([], [], [], [])
    for dist in pkg.dists(view):
        for r in pkg.requirements(dist, env):
            if r.req is None:
                out.invalid.append(f"{dist.name} {dist.version}: {r.text!r}")
            elif r.applies is None:
                out.undecided.append(f"{dist.name}: {r.text}")
            elif r.applies:
                _judge_requirement(dist, r, r.req, by, out)
    return out


def _judge_requirement(dist: Distribution, r: Req, req: Requirement, by: Mapping[str, list[Distribution]],
                       out: _PipCheck) -> None:
    have = by.get(normalize_name(req.name))
    if not have:
        out.missing.append((dist, r))
        return
    ok = [pkg.contains(req, h.version) for h in have]
    if not any(o is True for o in ok) and any(o is False for o in ok):
        out.conflicts.append((dist, r, have[0]))


def _requirement_text(r: Req) -> str:
    return str(r.req).split(";")[0].strip() if r.req is not None else r.text


def _missing_finding(dist: Distribution, r: Req) -> Finding:
    name = r.req.name if r.req is not None else r.text
    return warn(f"{dist.name} {dist.version} requires {name}, which is not installed",
                {"package": dist.name, "requires": r.text}, remedy=f"Install {name}.",
                commands=[f"pip install '{_requirement_text(r)}'"], subject=dist.name, links=[PIP_CHECK_DOCS])


def _conflict_finding(dist: Distribution, r: Req, have: Distribution) -> Finding:
    text = _requirement_text(r)
    return warn(f"{dist.name} {dist.version} has requirement {text}, but {have.name} {have.version} is installed",
                {"package": dist.name, "requires": r.text, "installed": have.version},
                remedy=f"Install a version that satisfies it (check what else needs {have.name}: pip show "
                       f"{have.name}).", commands=[f"pip install '{text}'"], subject=dist.name, links=[PIP_CHECK_DOCS])


def _invalid_findings(invalid: list[str], problems: tuple[str, ...]) -> list[Finding]:
    findings = []
    if invalid:
        findings.append(warn(f"{len(invalid)} requirement(s) in installed metadata are not valid PEP 508 and were not "
                             f"checked: {'; '.join(invalid[:5])}", {"invalid": invalid},
                             remedy="Upgrade or reinstall the packages named (their metadata is malformed)."))
    if problems:
        findings.append(warn(f"{len(problems)} broken or partial distribution folder(s): {'; '.join(problems[:5])}",
                             {"problems": list(problems)},
                             remedy="Delete the folders named (and reinstall the package if you need it); pip prints "
                                    "'WARNING: Ignoring invalid distribution' for these."))
    return findings
