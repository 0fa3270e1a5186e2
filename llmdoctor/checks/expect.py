"""Fleet expectations: what this host must have, as declared in the configuration (``[expect]``).

Each ``expect.K`` check reads its expectation from ``[expect] K = ...`` (its declared setting
``expected``); without one it is not applicable (and ``llmdoctor check`` leaves it out unless selected
by name).  An expectation that cannot be verified, because the fact it is about was not read, fails: a
preflight must not pass a node it could not inspect.
"""

from __future__ import annotations

from typing import Any, Mapping  # noqa: UP035 (the engine compares with the snapshot's typing.Mapping)

from ..engine import Context, Setting, check
from ..results import Finding, fail, not_applicable, passed
from ..snapshot import PART_PROBES, Driver, Gpu, Meta, Packages, ProbeResult, Torch

CONFIG_HINT = "no expectation configured: set [expect] {key} in llmdoctor.toml (see 'llmdoctor config')"
NVML_COMMANDS = ("nvidia-smi -L", "dmesg | grep -i xid")


def expected_setting(key: str, type_: type, help_: str) -> dict[str, Setting]:
    """The expectation as a declared setting; users write it as ``[expect] key = ...`` (the config passes it)."""
    return {"expected": Setting(type_, None, f"{help_}; usually written as [expect] {key} = ...")}


def expectation(ctx: Context, key: str) -> Any:
    """The configured expectation: the declared setting, or the ``[expect] key`` entry as the config passes it."""
    value = ctx.setting("expected")
    return value if value is not None else ctx.option(f"expect.{key}")


def why_unread(part: str, probes: tuple[ProbeResult, ...], meta: Meta) -> str:
    """Why a fact was not read, in words: the probe's own reason, or that the input does not state it."""
    owner = PART_PROBES.get(part, part)
    probe = next((p for p in probes if p.name == owner), None)
    if probe is not None and not probe.ok and probe.reason:
        return probe.reason
    if meta.source != "live":
        return "the input does not state it"
    return "it was not probed"


def cannot_verify(what: str, source: str, part: str, probes: tuple[ProbeResult, ...], meta: Meta,
                  evidence: Mapping[str, Any], commands: tuple[str, ...] = ()) -> Finding:
    """An expectation that cannot be verified fails: the node could not be inspected."""
    reason = why_unread(part, probes, meta)
    return fail(f"{what}; {source} could not be read: {reason}", {**evidence, "unread": part, "reason": reason},
                remedy="A node llmdoctor cannot inspect must not take jobs: drain it and find out why "
                       f"{source} cannot be read.", commands=commands)


@check("expect.gpu-count", "This host has the expected number of GPUs",
       settings=expected_setting("gpu-count", int, "number of NVIDIA GPUs this host must have"))
def expect_gpu_count(gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...], meta: Meta,
                     ctx: Context) -> Finding:
    """Does NVML see exactly the number of GPUs the fleet configuration expects?

    A node that lost a GPU (fallen off the bus, Xid 79, a failed board) still boots and still runs
    jobs that ask for fewer devices, so a partial node is found late.  Set the expectation with
    `[expect] gpu-count = 8`.  A node whose GPUs cannot be listed (driver not loaded, NVML hangs) fails:
    the expectation cannot be verified there.

    Fix: `nvidia-smi -L` lists what the driver sees; `dmesg | grep -i xid` shows why one is missing;
    drain the node and ask for a hardware check.

    Sources: NVIDIA XID errors documentation, https://docs.nvidia.com/deploy/xid-errors/
    (Xid 79: "GPU has fallen off the bus").
    """
    wanted = expectation(ctx, "gpu-count")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="gpu-count"))
    if gpus is None:
        return cannot_verify(f"expected {wanted} GPUs", "NVML", "gpus", probes, meta, {"expected": wanted},
                             NVML_COMMANDS)
    evidence = {"expected": wanted, "found": len(gpus), "gpus": [g.name for g in gpus]}
    if len(gpus) == wanted:
        return passed(f"{len(gpus)} GPUs, as expected", evidence)
    return fail(f"{len(gpus)} GPUs found, but the fleet configuration expects {wanted}", evidence,
                remedy="See which GPU is missing and why; drain the node until it is repaired.",
                commands=NVML_COMMANDS)


@check("expect.gpu-model", "Every GPU is the expected model",
       settings=expected_setting("gpu-model", str, "text every GPU name must contain, case-insensitive (e.g. \"H100\")"))
def expect_gpu_model(gpus: tuple[Gpu, ...] | None, probes: tuple[ProbeResult, ...], meta: Meta,
                     ctx: Context) -> Finding | list[Finding]:
    """Is every GPU the expected model?  `[expect] gpu-model = "H100"` matches GPU names containing
    that text, ignoring case ("NVIDIA H100 80GB HBM3").

    A job tuned for one model (memory size, fp8 support) fails or runs slowly on another; schedulers
    sometimes place jobs on the wrong partition.  A GPU whose name cannot be read fails the expectation.

    Fix: schedule the job on nodes with that model (a Slurm constraint or partition, a Kubernetes
    nodeSelector on the GPU product label).

    Sources: the GPU name as NVML reports it (nvmlDeviceGetName, https://docs.nvidia.com/deploy/nvml-api/);
    the fleet's own configuration.
    """
    wanted = expectation(ctx, "gpu-model")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="gpu-model"))
    if gpus is None:
        return cannot_verify(f"expected {wanted} GPUs", "NVML", "gpus", probes, meta, {"expected": wanted},
                             NVML_COMMANDS)
    if not gpus:
        return fail(f"no NVIDIA GPU, but the fleet configuration expects {wanted}", {"expected": wanted},
                    remedy="Run the job on a node with that GPU model.")
    return [gpu_is_the_model(gpu, wanted) for gpu in gpus]


def gpu_is_the_model(gpu: Gpu, wanted: str) -> Finding:
    label = f"GPU {gpu.index}"
    if gpu.name is None:
        return fail(f"{label}: expected a {wanted}; its model could not be read", {"expected": wanted},
                    remedy="Find out why NVML does not name the GPU; drain the node meanwhile.",
                    commands=("nvidia-smi -L",), subject=label)
    if wanted.lower() in gpu.name.lower():
        return passed(f"{label} is a {gpu.name}", {"name": gpu.name}, subject=label)
    return fail(f"{label} is a {gpu.name}, but the fleet configuration expects {wanted}",
                {"name": gpu.name, "expected": wanted}, remedy="Run the job on a node with that GPU model.",
                subject=label)


@check("expect.min-driver", "The NVIDIA driver is at least the expected version",
       settings=expected_setting("min-driver", str, "lowest acceptable NVIDIA driver version (e.g. \"535.104\")"))
def expect_min_driver(driver: Driver | None, probes: tuple[ProbeResult, ...], meta: Meta, ctx: Context) -> Finding:
    """Is the NVIDIA driver at least the version the fleet configuration names
    (`[expect] min-driver = "535.104"`)?

    Fleets pin a minimum driver for the CUDA versions and fixes their images rely on.  Versions are
    compared as PEP 440 release numbers (535.104.05 >= 535.104).  A driver version that cannot be read
    or compared fails the expectation.

    Fix: upgrade the driver on the node.

    Sources: the driver version as NVML reports it (nvmlSystemGetDriverVersion); PEP 440 version ordering,
    https://peps.python.org/pep-0440/.
    """
    from packaging.version import InvalidVersion, Version

    wanted = expectation(ctx, "min-driver")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="min-driver"))
    if driver is None or not driver.version:
        return cannot_verify(f"expected driver ≥ {wanted}", "the driver version", "driver", probes, meta,
                             {"expected_min": wanted}, ("nvidia-smi",))
    evidence = {"driver": driver.version, "expected_min": wanted}
    try:
        ok = Version(driver.version) >= Version(wanted)
    except InvalidVersion:
        return fail(f"expected driver ≥ {wanted}, but driver version {driver.version!r} cannot be compared",
                    evidence, remedy="Check the driver installation.", commands=("nvidia-smi",))
    if ok:
        return passed(f"driver {driver.version} ≥ {wanted}", evidence)
    return fail(f"driver {driver.version} is older than {wanted}, the minimum the fleet configuration expects",
                evidence, remedy=f"Upgrade the NVIDIA driver to {wanted} or newer (then reboot or reload the "
                                 f"kernel module).")


@check("expect.torch", "torch matches the expected version specifier",
       settings=expected_setting("torch", str, "version specifier torch must satisfy (e.g. \">=2.4,<2.6\")"))
def expect_torch(torch: Torch | None, probes: tuple[ProbeResult, ...], meta: Meta, ctx: Context) -> Finding:
    """Does the installed torch satisfy the fleet's version specifier (`[expect] torch = ">=2.4,<2.6"`)?

    A local version label (+cu121) is ignored, as PEP 440 says for specifiers without one.  A torch
    version that cannot be read or parsed fails the expectation.

    Fix: install a matching torch (`pip install "torch>=2.4,<2.6"` with the right CUDA index URL).

    Sources: PEP 440 "Version specifiers" (local versions), https://peps.python.org/pep-0440/;
    torch.__version__ from the torch probe.
    """
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    wanted = expectation(ctx, "torch")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="torch"))
    if torch is None:
        return cannot_verify(f"expected torch{wanted}", "torch", "torch", probes, meta, {"expected": wanted})
    install = f'pip install "torch{wanted}"'
    if not torch.installed:
        return fail(f"torch is not installed, but the fleet configuration expects torch{wanted}",
                    {"expected": wanted}, remedy="Install a matching torch.", commands=(install,))
    evidence = {"torch": torch.version, "expected": wanted}
    try:
        ok = SpecifierSet(wanted).contains(Version(torch.version or ""), prereleases=True)
    except InvalidVersion:
        return fail(f"expected torch{wanted}, but torch's version {torch.version!r} cannot be read as a version",
                    evidence, remedy="Reinstall a matching torch.", commands=(install,))
    if ok:
        return passed(f"torch {torch.version} satisfies {wanted}", evidence)
    return fail(f"torch {torch.version} does not satisfy {wanted}, which the fleet configuration expects", evidence,
                remedy="Install a matching torch (with the index URL of your CUDA variant).", commands=(install,))


@check("expect.packages", "The expected packages are installed at the expected versions",
       settings=expected_setting("packages", list, "requirements that must be installed (e.g. [\"vllm>=0.6\"])"))
def expect_packages(packages: Packages | None, probes: tuple[ProbeResult, ...], meta: Meta,
                    ctx: Context) -> Finding | list[Finding]:
    """Are the packages the fleet configuration requires installed, at matching versions
    (`[expect] packages = ["vllm>=0.6", "flash-attn"]`)?

    Names are compared after PEP 503 normalisation (flash_attn = flash-attn); versions with PEP 440.
    When the installed packages cannot be read, the expectation fails.

    Fix: `pip install` the requirement as written.

    Sources: PEP 508 (requirement strings), PEP 503 (name normalisation), PEP 440 (specifiers),
    https://packaging.python.org/en/latest/specifications/.
    """
    wanted = expectation(ctx, "packages")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="packages"))
    if not wanted:
        return not_applicable("no package expected")
    if packages is None:
        return cannot_verify(f"expected {', '.join(wanted)}", "the installed packages", "packages", probes, meta,
                             {"expected": list(wanted)})
    return [requirement_met(text, packages) for text in wanted]


def requirement_met(text: str, packages: Packages) -> Finding:
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    req = Requirement(text)
    have = packages.version(req.name)
    evidence = {"requirement": text, "installed": have}
    install = f'pip install "{text}"'
    if have is None:
        return fail(f"{req.name} is not installed ({text} expected)", evidence, commands=(install,), subject=req.name)
    try:
        ok = not req.specifier or req.specifier.contains(Version(have), prereleases=True)
    except InvalidVersion:
        return fail(f"{text} expected, but {req.name}'s version {have!r} cannot be read as a version", evidence,
                    commands=(install,), subject=req.name)
    if ok:
        return passed(f"{req.name} {have} satisfies {text}", evidence, subject=req.name)
    return fail(f"{req.name} {have} does not satisfy {text}", evidence, commands=(install,), subject=req.name)


@check("expect.env", "Environment variables have the expected values",
       settings=expected_setting("env", dict, "environment variables that must have these values"))
def expect_env(env: Mapping[str, str] | None, probes: tuple[ProbeResult, ...], meta: Meta,
               ctx: Context) -> Finding | list[Finding]:
    """Do the environment variables named in `[expect] env = { NCCL_IB_DISABLE = "0" }` have those
    values?  Only variables llmdoctor records can be expected (CUDA_*, NCCL_*, TORCH_*, ... see
    `llmdoctor/probes/env.py`); the configuration refuses others.  When the environment cannot be
    read, the expectation fails.

    Fix: set the variables in the job script, the container image, or the scheduler's environment.

    Sources: the allow-listed environment recorded by the env probe (secrets redacted, so they cannot
    be expected); NCCL's environment variable documentation for the NCCL_* names,
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html.
    """
    wanted = expectation(ctx, "env")
    if wanted is None:
        return not_applicable(CONFIG_HINT.format(key="env"))
    if not wanted:
        return not_applicable("no variable expected")
    if env is None:
        return cannot_verify(f"expected {', '.join(f'{k}={v}' for k, v in wanted.items())}", "the environment",
                             "env", probes, meta, {"expected": dict(wanted)})
    return [variable_has_the_value(name, value, env.get(name)) for name, value in wanted.items()]


def variable_has_the_value(name: str, value: str, have: str | None) -> Finding:
    if have == value:
        return passed(f"{name}={value}", {"name": name, "value": have}, subject=name)
    export = f"export {name}={value}"
    if have is None:
        return fail(f"{name} is not set, but the fleet configuration expects {name}={value}",
                    {"name": name, "expected": value}, commands=(export,), subject=name)
    return fail(f"{name}={have}, but the fleet configuration expects {name}={value}",
                {"name": name, "value": have, "expected": value}, commands=(export,), subject=name)
