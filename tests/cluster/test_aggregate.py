"""Aggregation: per-node results summarised (majority merged, outliers named), drain list and scripts,
``llmdoctor cluster --from DIR`` without torch."""

from __future__ import annotations

import json
import subprocess
import sys

from llmdoctor.cluster.aggregate import build_report, drain_list
from llmdoctor.cluster.drain import k8s_script, slurm_script
from llmdoctor.engine import Context, load_registry, select
from llmdoctor.results import Status
from tests.conftest import ROOT, load_scenario, run_cli

from .conftest import node


def _report(cluster):
    return build_report(cluster, select(load_registry(), ["cuda", "nccl"]), Context(), {})


def test_majority_is_one_finding_and_the_outlier_is_named(make_cluster):
    old = load_scenario("a100_driver470_cu121")
    nodes = [node(f"n{i:02d}", first_rank=i) for i in range(9)] + [node("n09", base=old, first_rank=9)]
    report = _report(make_cluster(nodes))
    driver = next(c for c in report.checks if c.id == "cuda.driver")
    assert driver.status is Status.FAIL
    failing = [f for f in driver.findings if f.status is Status.FAIL]
    assert failing and all(f.evidence["nodes"] == ["n09"] for f in failing)
    assert failing[0].message.startswith("[1 of 10 nodes: n09]")
    majority = [f for f in driver.findings if f.evidence.get("node_count") == 9]
    assert majority and majority[0].message.startswith("[9 of 10 nodes: n00, n01, n02, n03, n04 and 4 more]")
    assert report.snapshot.meta.source == "cluster" and "10 nodes" in report.snapshot.meta.source_detail
    drains = drain_list(report)
    assert "n09" in drains and "cuda.driver" in drains["n09"]
    assert report.exit_code == 1


def test_drain_scripts_are_dry_run_text_with_quoted_names():
    nodes = {"gpu-07": ["cluster.versions", "cuda.driver"], "odd name": ["cluster.gpus"]}
    slurm = slurm_script(nodes)
    assert "DRY RUN" in slurm
    assert "scontrol update NodeName=gpu-07 State=DRAIN Reason='llmdoctor: cluster.versions, cuda.driver'" in slurm
    assert "NodeName='odd name'" in slurm
    k8s = k8s_script(nodes)
    assert "kubectl cordon gpu-07" in k8s
    assert "kubectl taint nodes gpu-07 llmdoctor/unhealthy=true:NoSchedule --overwrite" in k8s
    assert "llmdoctor/checks=versions_cuda-driver" in k8s


def _write_nodes(tmp_path, nccl_b="2.18.1"):
    for name, nccl in (("gpu-a", None), ("gpu-b", nccl_b), ("gpu-c", None)):
        n = node(name, nccl=nccl)
        (tmp_path / f"{name}.json").write_text(n.snapshot.to_json())
    return tmp_path


def test_from_dir_json_report_names_the_outlier_and_exits_1(tmp_path):
    _write_nodes(tmp_path)
    proc = run_cli("cluster", "--from", str(tmp_path), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    versions = checks["cluster.versions"]
    assert versions["status"] == "fail"
    assert versions["findings"][0]["message"].startswith("NCCL differs: gpu-b has NCCL 2.18.1")
    assert checks["cluster.clock-skew"]["status"] == "not_applicable"  # measured live only
    assert "cuda.driver" in checks  # per-node checks in the same report


def test_from_dir_drain_script_and_golden(tmp_path):
    (tmp_path / "nodes").mkdir()
    _write_nodes(tmp_path / "nodes")
    golden = tmp_path / "golden.json"
    golden.write_text(node("golden").snapshot.to_json())
    proc = run_cli("cluster", "--from", str(tmp_path / "nodes"), "--drain-script", "slurm",
                   "--expect", str(golden))
    assert proc.returncode == 1, proc.stderr
    assert "scontrol update NodeName=gpu-b State=DRAIN" in proc.stdout
    assert "gpu-a" not in proc.stdout


def test_from_dir_never_imports_torch(tmp_path):
    _write_nodes(tmp_path)
    code = ("import sys; from llmdoctor.cli.app import main\n"
            "try:\n    main(['cluster', '--from', sys.argv[1], '-f', 'plain'])\n"
            "except SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "assert 'torch.distributed' not in sys.modules\nprint('no-torch-ok')")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert "no-torch-ok" in proc.stdout, proc.stderr


def test_bad_input_is_exit_2_with_one_line(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    proc = run_cli("cluster", "--from", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not valid JSON" in proc.stderr
    proc = run_cli("cluster", "--from", str(tmp_path / "missing"))
    assert proc.returncode == 2


def test_every_check_format_renders_the_cluster_report(make_cluster):
    from llmdoctor.cluster.model import Cluster
    from llmdoctor.report import RENDERERS, RenderOptions, render

    report = _report(Cluster(nodes=(node("a"), node("b", nccl="2.18.1")), world_size=2, live=True))
    for fmt in RENDERERS:
        text = render(report, fmt, RenderOptions())
        assert "cluster.versions" in text or fmt == "prometheus", fmt
    assert 'check="cluster.versions"' in render(report, "prometheus", RenderOptions())


def test_cross_node_checks_are_listed_and_explained():
    proc = run_cli("cluster", "--list-checks")
    assert proc.returncode == 0 and "cluster.versions" in proc.stdout and "cluster.stragglers" in proc.stdout
    proc = run_cli("cluster", "--explain", "cluster.bandwidth")
    assert proc.returncode == 0
    assert "nccl-tests/blob/master/doc/PERFORMANCE.md" in proc.stdout and "--min-bandwidth-fraction" in proc.stdout
    assert run_cli("cluster", "--explain", "cluster.nope").returncode == 2
