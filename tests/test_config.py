"""Configuration files, per-check settings, fleet expectations (expect.*), and `llmdoctor config`."""

from __future__ import annotations

import json

import pytest

from conftest import SCENARIOS, load_scenario, run_cli, run_json, statuses
from llmdoctor.config import load_config
from llmdoctor.engine import Context, Registry, Setting, UsageError, check, run_check, verify
from llmdoctor.results import passed

H100 = str(SCENARIOS / "h100x8_healthy.json")


def write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the @check settings declaration


def _registry_with_settings() -> Registry:
    @check("demo.shm", "demo", settings={"min_bytes": (int, 1 << 30, "smallest /dev/shm"),
                                           "ratio": (float, 0.5, "a ratio"), "mode": (str, "strict", "")})
    def demo(ctx: Context):
        return passed(f"min={ctx.setting('min_bytes')}")

    registry = Registry()
    registry.register(verify(demo.__llmdoctor_check__))
    return registry


def test_a_check_without_settings_declares_none():
    @check("demo.plain", "no settings")
    def plain():
        return None

    assert plain.__llmdoctor_check__.settings == {}


def test_declared_settings_and_defaults():
    registry = _registry_with_settings()
    spec = registry.get("demo.shm")
    assert spec.settings["min_bytes"] == Setting(int, 1 << 30, "smallest /dev/shm")
    with pytest.raises(UsageError):
        check("demo.bad", "x", settings={"n": 3})


def test_file_settings_reach_the_check_through_ctx_setting(tmp_path):
    registry = _registry_with_settings()
    cfg = write(tmp_path / "llmdoctor.toml", '[checks."demo.shm"]\nmin_bytes = 2048\nratio = 1\n')
    config = load_config(cfg, registry)
    assert config.settings["demo.shm.min_bytes"].value == 2048
    assert config.settings["demo.shm.min_bytes"].source == str(cfg)
    assert config.settings["demo.shm.ratio"].value == 1.0  # an int is fine for a float
    assert config.settings["demo.shm.mode"].source == "default"
    result = run_check(registry.get("demo.shm"), load_scenario("no_gpu"), Context(config.options()))
    assert result.findings[0].message == "min=2048"


def test_run_checks_gives_declared_defaults_without_configuration():
    from llmdoctor.engine import run_checks

    registry = _registry_with_settings()
    report = run_checks(load_scenario("no_gpu"), list(registry))
    assert report.checks[0].findings[0].message == f"min={1 << 30}"


@pytest.mark.parametrize("body, named", [
    ('[checks."demo.shm"]\nmin_byte = 1\n', 'checks."demo.shm".min_byte'),
    ('[checks."demo.shm"]\nmin_bytes = "1G"\n', 'checks."demo.shm".min_bytes'),
    ('[checks."demo.shm"]\nmin_bytes = true\n', 'checks."demo.shm".min_bytes'),
    ('[checks."demo.shmm"]\nmin_bytes = 1\n', 'checks."demo.shmm"'),
    ('fail_on = "warn"\n', "fail_on"),
    ('fail-on = "always"\n', "fail-on"),
    ('select = 3\n', "select"),
    ('ignore = ["demo.shmm"]\n', "ignore"),
    ('[expect]\ngpu-count = -1\n', "expect.gpu-count"),
    ('[expect]\ngpu_count = 8\n', "expect.gpu_count"),
    ('[expect]\ntorch = "2.4"\n', "expect.torch"),
    ('[expect]\nmin-driver = "new"\n', "expect.min-driver"),
    ('[expect]\npackages = "vllm"\n', "expect.packages"),
    ('[expect]\nenv = { HOME = "/root" }\n', "expect.env"),
    ('[expect]\nenv = { HF_TOKEN = "x" }\n', "expect.env"),
    ("select = [\n", "not valid TOML"),
])
def test_bad_configuration_names_the_key(tmp_path, body, named):
    cfg = write(tmp_path / "llmdoctor.toml", body)
    with pytest.raises(UsageError) as err:
        load_config(cfg, _registry_with_settings())
    assert named in str(err.value) and str(cfg) in str(err.value)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- finding the file


def test_search_upward_and_precedence(tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.llmdoctor]\nfail-on = "warn"\n')
    found = load_config(start=deep)
    assert found.path == tmp_path / "pyproject.toml" and found.fail_on.value == "warn"
    write(tmp_path / "a" / "llmdoctor.toml", 'ignore = ["cudnn"]\n')
    nearer = load_config(start=deep)
    assert nearer.path == tmp_path / "a" / "llmdoctor.toml" and nearer.fail_on.value == "fail"
    assert nearer.override(["cuda"], None, "warn").fail_on.source == "command line"


def test_pyproject_without_our_table_is_not_a_config(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "llmdoctor-user"\n')
    assert load_config(start=tmp_path).path is None


def test_cli_reads_config_from_working_directory(tmp_path):
    sub = tmp_path / "job"
    sub.mkdir()
    write(tmp_path / "llmdoctor.toml", 'select = ["gpu", "expect"]\n[expect]\ngpu-count = 4\n')
    code, report = run_json("check", "--from", H100, "--json", cwd=sub)
    assert code == 1
    got = statuses(report)
    assert got["expect.gpu-count"] == "fail"
    assert all(i.startswith(("gpu.", "expect.")) for i in got)
    # the command line wins over the file
    code, report = run_json("check", "--from", H100, "--json", "--select", "cuda", cwd=sub)
    assert code == 0 and all(i.startswith("cuda.") for i in statuses(report))


def test_cli_bad_config_is_exit_2_one_line(tmp_path):
    write(tmp_path / "llmdoctor.toml", '[expect]\ngpu-cnt = 8\n')
    proc = run_cli("check", "--from", H100, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "expect.gpu-cnt" in proc.stderr and "gpu-count" in proc.stderr
    proc = run_cli("check", "--from", H100, "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_expect_checks_only_run_when_configured_or_selected(tmp_path):
    code, report = run_json("check", "--from", H100, "--json", cwd=tmp_path)
    assert not any(i.startswith("expect.") for i in statuses(report))
    code, report = run_json("check", "--from", H100, "--json", "--select", "expect", cwd=tmp_path)
    assert set(statuses(report).values()) <= {"unknown", "not_applicable"}
    assert "no expectation configured" in report["checks"][0]["findings"][0]["message"]


def test_llmdoctor_config_prints_values_and_sources(tmp_path):
    cfg = write(tmp_path / "fleet.toml", 'fail-on = "warn"\n[expect]\ngpu-model = "H100"\n')
    proc = run_cli("config", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith('fail-on = "warn"') and str(cfg) in line for line in lines)
    assert any(line.startswith("select = []") and "# default" in line for line in lines)
    assert any(line.startswith('gpu-model = "H100"') for line in lines)
    data = json.loads(run_cli("config", "--config", str(cfg), "--json").stdout)
    assert data["fail-on"] == {"value": "warn", "source": str(cfg)}
    assert data["expect"]["gpu-model"]["value"] == "H100"


def test_fail_on_from_file_and_cli(tmp_path):
    write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    v100 = str(SCENARIOS / "v100_fp16_only.json")
    code, report = run_json("check", "--from", v100, "--json", cwd=tmp_path)
    assert report["fail_on"] == "warn"
    code2, report2 = run_json("check", "--from", v100, "--json", "--fail-on", "fail", cwd=tmp_path)
    assert report2["fail_on"] == "fail"


def test_builtin_setting_from_file_changes_the_verdict(tmp_path):
    """nccl.shm declares min_bytes: the file's value reaches the check through ctx.option."""
    shm = str(SCENARIOS / "docker_small_shm.json")  # /dev/shm is 64 MiB
    code, report = run_json("check", "--from", shm, "--json", "--select", "nccl.shm", cwd=tmp_path)
    assert statuses(report)["nccl.shm"] == "fail"
    write(tmp_path / "llmdoctor.toml", '[checks."nccl.shm"]\nmin_bytes = 33554432\n')  # 32 MiB
    code, report = run_json("check", "--from", shm, "--json", "--select", "nccl.shm", cwd=tmp_path)
    assert statuses(report)["nccl.shm"] == "pass"
    shown = run_cli("config", cwd=tmp_path).stdout
    assert any(line.startswith("min_bytes = 33554432") and str(tmp_path) in line for line in shown.splitlines())


def test_select_as_a_string_is_bad_usage(tmp_path):
    """A string where a list is documented is refused (exit 2), naming the list to write instead."""
    write(tmp_path / "llmdoctor.toml", 'select = "cuda"\n')
    proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "expected a list" in proc.stderr and "['cuda']" in proc.stderr


@pytest.mark.parametrize("value", ["unknown", "UNKNOWN", "warn", "fail"])
def test_fail_on_accepts_unknown_in_the_file(tmp_path, value):
    cfg = write(tmp_path / "llmdoctor.toml", f'fail-on = "{value}"\n')
    assert load_config(cfg).fail_on.value == value.lower()


# --------------------------------------------------------------------------- configuration from strangers

FAILING = str(SCENARIOS / "a100_driver470_cu121.json")  # exit 1 without a configuration


def _every_area() -> list[str]:
    from llmdoctor.engine import load_registry

    return sorted({spec.area for spec in load_registry()})


@pytest.mark.parametrize("marker", [".git", "pyproject.toml"])
def test_search_stops_at_the_repository_or_project_root(tmp_path, marker):
    repo, deep = tmp_path / "repo", tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')  # above the root: another project's
    (repo / ".git").mkdir() if marker == ".git" else write(repo / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config(start=deep).path is None
    write(repo / "llmdoctor.toml", 'fail-on = "warn"\n')  # at the root itself: found
    assert load_config(start=deep).path == repo / "llmdoctor.toml"


def test_search_stops_at_the_home_directory(tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    (home / "job").mkdir(parents=True)
    write(tmp_path / "home" / "llmdoctor.toml", 'fail-on = "warn"\n')
    monkeypatch.setattr("pathlib.Path.home", classmethod(lambda cls: home))
    assert load_config(start=home / "job").path is None


def _owned_by(monkeypatch, path, uid):
    """``os.stat`` of ``path`` reports owner ``uid`` (so the test runs as any user)."""
    import os

    real_stat = os.stat

    def fake_stat(p, *args, **kwargs):
        st = real_stat(p, *args, **kwargs)
        if os.fspath(p) == os.fspath(path):
            fields = list(st)
            fields[4] = uid  # st_uid
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "stat", fake_stat)


@pytest.mark.parametrize("name", ["llmdoctor.toml", "pyproject.toml"])
def test_a_file_owned_by_another_user_is_ignored_with_a_warning(tmp_path, monkeypatch, capsys, name):
    import os

    body = f'ignore = {json.dumps(_every_area()[:-1])}\n'
    path = write(tmp_path / name, body if name == "llmdoctor.toml" else "[tool.llmdoctor]\n" + body)
    _owned_by(monkeypatch, path, os.geteuid() + 4242)
    assert load_config(start=tmp_path).path is None
    err = capsys.readouterr().err
    assert f"ignoring {path}: owned by uid {os.geteuid() + 4242}" in err and err.count("\n") == 1


def test_a_root_owned_file_is_trusted(tmp_path, monkeypatch):
    path = write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    _owned_by(monkeypatch, path, 0)
    assert load_config(start=tmp_path).path == path


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o664])
def test_a_file_others_may_write_is_ignored(tmp_path, capsys, mode):
    path = write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    path.chmod(mode)
    assert load_config(start=tmp_path).path is None
    assert f"ignoring {path}: writable by" in capsys.readouterr().err


def test_an_explicit_config_is_used_whoever_owns_it(tmp_path):
    path = write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    path.chmod(0o666)
    assert load_config(path).fail_on.value == "warn"


def test_a_strangers_config_cannot_turn_a_failure_into_ok(tmp_path):
    """The attack of the issue: an llmdoctor.toml three folders up ignoring every area."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    path = write(tmp_path / "llmdoctor.toml", f'ignore = {json.dumps(_every_area())}\n')
    path.chmod(0o666)
    proc = run_cli("check", "--from", FAILING, cwd=deep)
    assert proc.returncode == 1, proc.stderr
    assert f"ignoring {path}" in proc.stderr and "config: none" in proc.stdout


def test_a_pyproject_too_big_or_special_is_not_read(tmp_path, capsys):
    import os

    write(tmp_path / "pyproject.toml", "[tool.llmdoctor]\n" + "# x\n" * (2**20 + 10))
    assert load_config(start=tmp_path).path is None
    assert "larger than 4 MiB" in capsys.readouterr().err
    (tmp_path / "pyproject.toml").unlink()
    os.mkfifo(tmp_path / "llmdoctor.toml")  # would block an open(): never opened
    assert load_config(start=tmp_path).path is None
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("fmt,needle", [("plain", "config: {path}"), ("markdown", "config: {path}"),
                                        ("junit", 'name="config" value="{path}"'), ("github", "config: {path}")])
def test_every_report_names_its_configuration(tmp_path, fmt, needle):
    path = write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    proc = run_cli("check", "--from", FAILING, "--format", fmt, cwd=tmp_path,
                   env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    assert needle.format(path=path) in proc.stdout
    bare = tmp_path / "bare"
    (bare / ".git").mkdir(parents=True)
    assert needle.format(path="none") in run_cli("check", "--from", FAILING, "--format", fmt, cwd=bare).stdout


def test_json_report_names_its_configuration(tmp_path):
    path = write(tmp_path / "llmdoctor.toml", 'fail-on = "warn"\n')
    assert run_json("check", "--from", FAILING, "--json", cwd=tmp_path)[1]["config"] == str(path)
    (tmp_path / "bare" / ".git").mkdir(parents=True)
    assert run_json("check", "--from", FAILING, "--json", cwd=tmp_path / "bare")[1]["config"] is None


@pytest.mark.parametrize("body", [
    "ignore = {every}\n",
    "ignore = {all_but_expect}\n",  # only expectations left, none configured: nothing would run
])
def test_a_configuration_that_deselects_every_check_is_bad_usage(tmp_path, body):
    areas = _every_area()
    write(tmp_path / "llmdoctor.toml", body.format(every=json.dumps(areas),
                                                   all_but_expect=json.dumps([a for a in areas if a != "expect"])))
    proc = run_cli("check", "--from", FAILING, cwd=tmp_path)
    assert proc.returncode == 2 and "the selection is empty" in proc.stderr and proc.stderr.count("\n") == 1
    assert str(tmp_path / "llmdoctor.toml") in proc.stderr
