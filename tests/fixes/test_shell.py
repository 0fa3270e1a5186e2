"""Generated scripts set exactly the given values: sourced in real bash, zsh, dash, fish (and pwsh when present),
with adversarial values from hypothesis; dotenv read by python-dotenv, Kubernetes YAML by PyYAML."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmdoctor.fixes.shell import Action, docker_args, render

# Everything an environment value can hold: any character but NUL (and no lone surrogates, which are not text).
VALUE = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
NASTY = ["", " ", "'", '"', "$HOME", "`id`", "$(id)", "a\nb", "\\", "\\'", "'\\''", "ümlaut ✓ 😀", "\t\r\n",
         "${X:-y}", "!x", "#c", "a\\\nb", "\u2018q\u2019", "%PATH%", "\x7f\x85\u2028", "-e", "=", "*"]
UTF8 = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}

# shell -> (format, command running the script file then printing the environment NUL-separated)
SHELLS = {
    "bash": ("bash", ["bash", "--norc", "--noprofile", "-c", '. "$1" && exec env -0', "bash"]),
    "zsh": ("zsh", ["zsh", "-f", "-c", '. "$1" && exec env -0', "zsh"]),
    "dash": ("sh", ["dash", "-c", '. "$1" && exec env -0', "dash"]),
    "fish": ("fish", ["fish", "--no-config", "-c", 'source $argv[1]; and exec env -0']),
    "pwsh": ("powershell", ["pwsh", "-NoProfile", "-NonInteractive", "-File"]),
}


def _env_after(shell: str, script: str, extra_env: dict | None = None) -> dict[str, str]:
    fmt, cmd = SHELLS[shell]
    with tempfile.NamedTemporaryFile("w", suffix=".ps1" if shell == "pwsh" else ".sh", delete=False,
                                     encoding="utf-8", newline="") as fh:
        fh.write(script)
        if shell == "pwsh":
            fh.write("\n& env -0\n")
        path = fh.name
    try:
        env = {**os.environ, **UTF8, **(extra_env or {})}
        args = cmd + [path] if shell != "fish" else cmd + [path]
        proc = subprocess.run(args, capture_output=True, env=env, timeout=30)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        out = {}
        for item in proc.stdout.split(b"\0"):
            if b"=" in item:
                k, _, v = item.partition(b"=")
                out[k.decode()] = v.decode("utf-8", "surrogateescape")
        return out
    finally:
        os.unlink(path)


def _need(shell: str):
    exe = SHELLS[shell][1][0]
    if shutil.which(exe) is None:
        pytest.skip(f"{exe} is not installed (bash .ci/run installs zsh, fish and dash on Debian)")


@pytest.mark.parametrize("shell", list(SHELLS))
def test_nasty_values_round_trip(shell):
    _need(shell)
    actions = [Action(f"LLMDOCTOR_T{i}", v, why=f"reason with {v!r}\nsecond line") for i, v in enumerate(NASTY)]
    fmt = SHELLS[shell][0]
    env = _env_after(shell, render(actions, fmt, header="header\nwith newline"))
    for a in actions:
        assert env.get(a.name) == a.value, (shell, a.value)


@pytest.mark.parametrize("shell", list(SHELLS))
def test_unset_removes_variable(shell):
    _need(shell)
    script = render([Action("LLMDOCTOR_GONE", None, "old"), Action("LLMDOCTOR_KEEP", "x"),
                     Action("LLMDOCTOR_NEVER_SET", None, "unsetting a missing variable is not an error")], SHELLS[shell][0])
    env = _env_after(shell, script, {"LLMDOCTOR_GONE": "1"})
    assert "LLMDOCTOR_GONE" not in env and env["LLMDOCTOR_KEEP"] == "x"


@pytest.mark.parametrize("shell", ["bash", "zsh", "dash", "fish"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(VALUE, min_size=1, max_size=6))
def test_hypothesis_values_round_trip(shell, values):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (bash .ci/run installs it on Debian)")
    actions = [Action(f"LLMDOCTOR_H{i}", v, why=v) for i, v in enumerate(values)]
    env = _env_after(shell, render(actions, SHELLS[shell][0]))
    assert [env.get(a.name) for a in actions] == values


# Values made of the characters a shell leaves alone: every value NCCL and the recommended settings take.
WORD = st.text(alphabet="abcXYZ019_@%+=:,./-", max_size=20)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(WORD, min_size=1, max_size=6))
def test_docker_words_survive_unquoted_command_substitution(values):
    """`docker run $(llmdoctor fix nccl -f docker) IMAGE`: bash splits the substitution, unquotes nothing."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    actions = [Action(f"LLMDOCTOR_D{i}", v, why="a reason # with a comment") for i, v in enumerate(values)]
    actions.append(Action("GONE", None, "unset"))
    flags = render(actions, "docker", header="a header")
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False, encoding="utf-8") as fh:
        fh.write(flags)
    try:
        script = "printf '%s\\0' $(cat \"$1\")"
        proc = subprocess.run(["bash", "--norc", "-c", script, "bash", fh.name], capture_output=True, timeout=30,
                              env={**os.environ, **UTF8})
    finally:
        os.unlink(fh.name)
    assert proc.returncode == 0, proc.stderr
    argv = [a.decode() for a in proc.stdout.split(b"\0")[:-1]]
    assert argv == docker_args(actions) == shlex.split(flags)


def test_docker_format_is_words_only_and_refuses_what_cannot_travel_bare():
    out = render([Action("NCCL_DEBUG", "WARN", "why"), Action("NCCL_P2P_DISABLE", None, "why")], "docker", header="h")
    assert out == "-e NCCL_DEBUG=WARN\n" and "#" not in out
    assert render([Action("X", None)], "docker") == ""
    for bad in ("a b", "'q'", "$HOME", "*", "a\nb"):
        with pytest.raises(ValueError, match="dotenv"):
            render([Action("X", bad)], "docker")


def docker_env_file(text: str) -> dict[str, str]:
    """How `docker run --env-file` reads a file (docker/cli opts/parse.go parseKeyValueFile): leading blanks
    trimmed, blank and '#' lines skipped, the value is everything after the first '=' taken literally."""
    out = {}
    for line in text.splitlines():
        line = line.lstrip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name] = value
    return out


@settings(max_examples=100, deadline=None)
@given(values=st.lists(WORD, min_size=1, max_size=6))
def test_dotenv_of_plain_values_reads_the_same_in_docker_and_python_dotenv(values):
    dotenv = pytest.importorskip("dotenv", reason="python-dotenv is a test dependency")
    import io

    actions = [Action(f"LLMDOCTOR_F{i}", v, why=v) for i, v in enumerate(values)] + [Action("GONE", None, "x")]
    text = render(actions, "dotenv", header="header")
    parsed = dotenv.dotenv_values(stream=io.StringIO(text))
    wanted = {a.name: a.value for a in actions if a.value is not None}
    assert docker_env_file(text) == wanted
    assert dict(parsed) == wanted


@settings(max_examples=150, deadline=None)
@given(values=st.lists(VALUE.filter(lambda v: "\r" not in v), min_size=1, max_size=6))
def test_dotenv_reads_back_with_python_dotenv(values):
    dotenv = pytest.importorskip("dotenv", reason="python-dotenv is a test dependency")
    import io

    actions = [Action(f"LLMDOCTOR_E{i}", v, why=v) for i, v in enumerate(values)]
    parsed = dotenv.dotenv_values(stream=io.StringIO(render(actions, "dotenv")))
    assert [parsed.get(a.name) for a in actions] == values


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUE, min_size=1, max_size=6))
def test_kubernetes_env_yaml_reads_back(values):
    yaml = pytest.importorskip("yaml", reason="PyYAML is a test dependency")
    actions = [Action(f"LLMDOCTOR_K{i}", v, why=v) for i, v in enumerate(values)] + [Action("GONE", None, "x")]
    doc = yaml.safe_load(render(actions, "k8s", header="paste under a container"))
    assert doc["env"] == [{"name": a.name, "value": a.value} for a in actions if a.value is not None]
    # its place in a pod spec: spec.containers[].env, a list of {name, value} string pairs
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "train", "image": "x", **doc}]}}
    for item in pod["spec"]["containers"][0]["env"]:
        assert set(item) == {"name", "value"} and all(isinstance(v, str) for v in item.values())


def test_kubernetes_env_with_only_unsets_is_an_empty_list():
    yaml = pytest.importorskip("yaml", reason="PyYAML is a test dependency")
    assert yaml.safe_load(render([Action("GONE", None, "x")], "k8s", header="h")) == {"env": []}


def test_bad_names_and_nul_are_refused():
    with pytest.raises(ValueError):
        render([Action("A-B", "x")], "sh")
    with pytest.raises(ValueError):
        render([Action("A", "x\x00y")], "fish")
    with pytest.raises(ValueError):
        render([Action("A", "x")], "tcsh")
