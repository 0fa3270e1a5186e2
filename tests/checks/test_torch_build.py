import dataclasses

from llmdoctor.results import Status

from .helpers import messages, run, scenario, with_torch


def test_cuda_torch_on_gpu_host_passes():
    assert run("torch.build", scenario("h100x8_healthy")).status is Status.PASS


def test_cpu_torch_on_gpu_host_fails_with_the_cuda_reinstall():
    result = run("torch.build", scenario("cpu_torch_on_gpu_host"))
    assert result.status is Status.FAIL
    text = messages(result)
    assert "CPU-only" in text
    assert "--index-url https://download.pytorch.org/whl/cu" in text
    assert "torch==2.4.0" in text
    assert result.findings[0].fix == "pin"  # a registered fix id; its option is in the command
    assert "llmdoctor fix pin --repair" in result.findings[0].remedy.commands


def test_cpu_torch_without_gpu_passes():
    assert run("torch.build", scenario("no_gpu")).status is Status.PASS


def test_cpu_torch_with_unknown_gpus_skips():
    snap = dataclasses.replace(scenario("no_gpu"), gpus=None,
                               host=dataclasses.replace(scenario("no_gpu").host, nvidia_pci_devices=None))
    assert run("torch.build", snap).status is Status.UNKNOWN


def test_cpu_torch_with_nvidia_pci_device_but_no_driver_fails():
    snap = dataclasses.replace(scenario("no_gpu"), gpus=None,
                               host=dataclasses.replace(scenario("no_gpu").host, nvidia_pci_devices=2))
    assert run("torch.build", snap).status is Status.FAIL


def test_import_failure_fails_with_the_verbatim_error():
    result = run("torch.build", scenario("torch_import_fails"))
    assert result.status is Status.FAIL
    assert "libcudnn.so.9: cannot open shared object file" in result.findings[0].message
    assert "libcudnn.so.9" in result.findings[0].remedy


def test_cuda_build_without_gpu_warns():
    snap = with_torch(scenario("no_gpu"), version="2.4.0+cu121", cuda="12.1")
    result = run("torch.build", snap)
    assert result.status is Status.WARN
    assert "no NVIDIA GPU" in messages(result)


def test_two_installs_warn():
    snap = with_torch(scenario("h100x8_healthy"), installs=("/opt/venv/lib/python3.10/site-packages/torch",
                                                           "/root/.local/lib/python3.10/site-packages/torch"))
    result = run("torch.build", snap)
    assert result.status is Status.WARN
    assert "2 torch installations" in messages(result)


def test_cuda_unavailable_on_gpu_host_fails():
    snap = with_torch(scenario("h100x8_healthy"), cuda_available=False, cuda_error="RuntimeError: CUDA error: out of memory")
    result = run("torch.build", snap)
    assert result.status is Status.FAIL
    assert "out of memory" in messages(result)


def test_driver_too_old_is_left_to_cuda_driver():
    result = run("torch.build", scenario("a100_driver470_cu121"))
    assert result.status is Status.WARN
    assert "cuda.driver" in messages(result)


def test_not_installed_is_not_applicable():
    from llmdoctor.snapshot import Torch
    snap = dataclasses.replace(scenario("h100x8_healthy"), torch=Torch(installed=False))
    result = run("torch.build", snap)
    assert result.status is Status.NOT_APPLICABLE and "--python" in result.findings[0].message


def test_cuda_build_with_the_gpus_unknown_is_unknown_not_a_pass():
    # a pasted collect_env without nvidia-smi: torch is a CUDA build, whether there is a GPU was not read
    snap = with_torch(dataclasses.replace(scenario("h100x8_healthy"), gpus=None), cuda_available=None, device_count=None)
    result = run("torch.build", snap)
    assert result.status is Status.UNKNOWN
    assert "whether this host has an NVIDIA GPU" in result.findings[0].message


def test_torch_that_counted_the_gpus_passes_on_its_own_facts():
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=None)
    result = run("torch.build", snap)
    assert result.status is Status.PASS and "sees 8 GPU(s)" in result.findings[0].message


def test_cpu_torch_suggestion_has_wheels_for_the_python():
    # case_06: Python 3.8 on 2x RTX 3090; torch 2.5+ has no Python 3.8 wheels, so 2.4 (as fix pin chooses)
    snap = scenario("cpu_torch_on_gpu_host")
    py38 = dataclasses.replace(snap, python=dataclasses.replace(snap.python, version="3.8.16"))
    commands = run("torch.build", py38).findings[0].remedy.commands
    assert any("torch==2.4" in c for c in commands), commands
