"""Fleet expectations: what this host must have, as declared in the configuration (``[expect]``).

Each ``expect.K`` check reads ``ctx.option("expect.K")`` (set from ``[expect] K = ...``); without an
expectation it skips (and ``llmdoctor check`` leaves it out unless selected by name).
"""

from __future__ import annotations

from ..engine import Context, check
from ..results import fail, passed, skip
from ..snapshot import Snapshot

CONFIG_HINT = "no expectation configured: set [expect] {key} in llmdoctor.toml (see 'llmdoctor config')"


def _wanted(ctx: Context, key: str):
    return ctx.option(f"expect.{key}")


@check("expect.gpu-count", "This host has the expected number of GPUs", needs=("gpus",))
def expect_gpu_count(snap: Snapshot, ctx: Context):
    """Does NVML see exactly the number of GPUs the fleet configuration expects?

    A node that lost a GPU (fallen off the bus, Xid 79, a failed board) still boots and still runs
    jobs that ask for fewer devices, so a partial node is found late.  Set the expectation with
    `[expect] gpu-count = 8`.

    Fix: `nvidia-smi -L` lists what the driver sees; `dmesg | grep -i xid` shows why one is missing;
    drain the node and ask for a hardware check.

    Sources: NVIDIA XID errors documentation (Xid 79: "GPU has fallen off the bus").
    """
    wanted = _wanted(ctx, "gpu-count")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="gpu-count"))
    have = len(snap.gpus or ())
    evidence = {"expected": wanted, "found": have, "gpus": [g.name for g in snap.gpus or ()]}
    if have == wanted:
        return passed(f"{have} GPUs, as expected", evidence)
    return fail(f"{have} GPUs found, but the fleet configuration expects {wanted}", evidence,
                remedy="Run 'nvidia-smi -L' and 'dmesg | grep -i xid' to see which GPU is missing and why; "
                       "drain the node until it is repaired.")


@check("expect.gpu-model", "Every GPU is the expected model", needs=("gpus",))
def expect_gpu_model(snap: Snapshot, ctx: Context):
    """Is every GPU the expected model?  `[expect] gpu-model = "H100"` matches GPU names containing
    that text, ignoring case ("NVIDIA H100 80GB HBM3").

    A job tuned for one model (memory size, fp8 support) fails or runs slowly on another; schedulers
    sometimes place jobs on the wrong partition.

    Fix: schedule the job on nodes with that model (a Slurm constraint or partition, a Kubernetes
    nodeSelector on the GPU product label).

    Sources: the GPU name as NVML reports it (nvmlDeviceGetName); the fleet's own configuration.
    """
    wanted = _wanted(ctx, "gpu-model")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="gpu-model"))
    if not snap.gpus:
        return fail(f"no NVIDIA GPU, but the fleet configuration expects {wanted}", {"expected": wanted},
                    remedy="Run the job on a node with that GPU model.")
    findings = []
    for gpu in snap.gpus:
        label = f"GPU {gpu.index}"
        if gpu.name is None:
            findings.append(skip(f"{label}: model unknown", subject=label))
        elif wanted.lower() in gpu.name.lower():
            findings.append(passed(f"{label} is a {gpu.name}", {"name": gpu.name}, subject=label))
        else:
            findings.append(fail(f"{label} is a {gpu.name}, but the fleet configuration expects {wanted}",
                                 {"name": gpu.name, "expected": wanted},
                                 remedy="Run the job on a node with that GPU model.", subject=label))
    return findings


@check("expect.min-driver", "The NVIDIA driver is at least the expected version", needs=("driver",))
def expect_min_driver(snap: Snapshot, ctx: Context):
    """Is the NVIDIA driver at least the version the fleet configuration names
    (`[expect] min-driver = "535.104"`)?

    Fleets pin a minimum driver for the CUDA versions and fixes their images rely on.  Versions are
    compared as PEP 440 release numbers (535.104.05 >= 535.104).

    Fix: upgrade the driver on the node.

    Sources: the driver version as NVML reports it (nvmlSystemGetDriverVersion); PEP 440 version ordering.
    """
    from packaging.version import InvalidVersion, Version

    wanted = _wanted(ctx, "min-driver")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="min-driver"))
    have = snap.driver.version
    if not have:
        return skip("driver version unknown")
    evidence = {"driver": have, "expected_min": wanted}
    try:
        ok = Version(have) >= Version(wanted)
    except InvalidVersion:
        return skip(f"cannot compare driver version {have!r}", evidence)
    if ok:
        return passed(f"driver {have} >= {wanted}", evidence)
    return fail(f"driver {have} is older than {wanted}, the minimum the fleet configuration expects", evidence,
                remedy=f"Upgrade the NVIDIA driver to {wanted} or newer (then reboot or reload the kernel module).")


@check("expect.torch", "torch matches the expected version specifier", needs=("torch",))
def expect_torch(snap: Snapshot, ctx: Context):
    """Does the installed torch satisfy the fleet's version specifier (`[expect] torch = ">=2.4,<2.6"`)?

    A local version label (+cu121) is ignored, as PEP 440 says for specifiers without one.

    Fix: install a matching torch (`pip install "torch>=2.4,<2.6"` with the right CUDA index URL).

    Sources: PEP 440 "Version specifiers" (local versions); torch.__version__ from the torch probe.
    """
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    wanted = _wanted(ctx, "torch")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="torch"))
    t = snap.torch
    if not t.installed:
        return fail(f"torch is not installed, but the fleet configuration expects torch{wanted}",
                    {"expected": wanted}, remedy=f'pip install "torch{wanted}"')
    if not t.version:
        return skip("torch version unknown")
    evidence = {"torch": t.version, "expected": wanted}
    try:
        ok = SpecifierSet(wanted).contains(Version(t.version), prereleases=True)
    except InvalidVersion:
        return skip(f"cannot parse torch version {t.version!r}", evidence)
    if ok:
        return passed(f"torch {t.version} satisfies {wanted}", evidence)
    return fail(f"torch {t.version} does not satisfy {wanted}, which the fleet configuration expects", evidence,
                remedy=f'pip install "torch{wanted}" (with the index URL of your CUDA variant)')


@check("expect.packages", "The expected packages are installed at the expected versions", needs=("packages",))
def expect_packages(snap: Snapshot, ctx: Context):
    """Are the packages the fleet configuration requires installed, at matching versions
    (`[expect] packages = ["vllm>=0.6", "flash-attn"]`)?

    Names are compared after PEP 503 normalisation (flash_attn = flash-attn); versions with PEP 440.

    Fix: `pip install` the requirement as written.

    Sources: PEP 508 (requirement strings), PEP 503 (name normalisation), PEP 440 (specifiers).
    """
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    wanted = _wanted(ctx, "packages")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="packages"))
    findings = []
    for text in wanted:
        req = Requirement(text)
        have = snap.packages.version(req.name)
        evidence = {"requirement": text, "installed": have}
        if have is None:
            findings.append(fail(f"{req.name} is not installed ({text} expected)", evidence,
                                 remedy=f'pip install "{text}"', subject=req.name))
            continue
        try:
            ok = not req.specifier or req.specifier.contains(Version(have), prereleases=True)
        except InvalidVersion:
            findings.append(skip(f"cannot parse {req.name} version {have!r}", evidence, subject=req.name))
            continue
        if ok:
            findings.append(passed(f"{req.name} {have} satisfies {text}", evidence, subject=req.name))
        else:
            findings.append(fail(f"{req.name} {have} does not satisfy {text}", evidence,
                                 remedy=f'pip install "{text}"', subject=req.name))
    return findings or skip("no package expected")


@check("expect.env", "Environment variables have the expected values", needs=("env",))
def expect_env(snap: Snapshot, ctx: Context):
    """Do the environment variables named in `[expect] env = { NCCL_IB_DISABLE = "0" }` have those
    values?  Only variables llmdoctor records can be expected (CUDA_*, NCCL_*, TORCH_*, ... see
    `llmdoctor/probes/env.py`); the configuration refuses others.

    Fix: set the variables in the job script, the container image, or the scheduler's environment.

    Sources: the allow-listed environment recorded by the env probe (secrets redacted, so they cannot
    be expected); NCCL's environment variable documentation for the NCCL_* names.
    """
    wanted = _wanted(ctx, "env")
    if wanted is None:
        return skip(CONFIG_HINT.format(key="env"))
    findings = []
    for name, value in wanted.items():
        have = snap.env.get(name)
        if have == value:
            findings.append(passed(f"{name}={value}", {"name": name, "value": have}, subject=name))
        elif have is None:
            findings.append(fail(f"{name} is not set, but the fleet configuration expects {name}={value}",
                                 {"name": name, "expected": value}, remedy=f"export {name}={value}", subject=name))
        else:
            findings.append(fail(f"{name}={have}, but the fleet configuration expects {name}={value}",
                                 {"name": name, "value": have, "expected": value},
                                 remedy=f"export {name}={value}", subject=name))
    return findings or skip("no variable expected")
