"""Side-by-side speed and memory of llmdoctor and its peers, in one run.

    python bench/speed.py [--repeats 7] [--peers DIR] [--markdown]

Every command runs ``--repeats`` times, interleaved round by round (so the noise of a shared machine hits
all of them alike); the table gives medians and the ratios the speed issue sets targets for:

  warm `check`        <= 0.1 x `python -m torch.utils.collect_env`, <= 0.15 x the fastest peer
  cold `check`        <= `python -c "import torch"` + 0.3 s   (cache cleared before each run)
  `--help`            <= 0.15 s;   `check --from snapshot.json` <= 0.25 s
  peak RSS of the llmdoctor process (its torch subprocess apart) <= 60 MiB
  64 fake GPUs        <= 1.2 x one

Peers (env-doctor, ai-infradr, cuda-doctor) are installed from PyPI, each in its own venv under --peers
with the same torch (``--install-peers`` does it: ``pip install torch==2.13.0 NAME``).  With --peers,
llmdoctor itself runs from a venv there too (``PEERS/llmdoctor``: this tree, ``pip install .``, as users
install it; ``--editable`` times this interpreter's install instead).  They run with
HOME in a scratch folder where env-doctor's data cache is seeded from its bundled copy, and with a proxy
that refuses at once, so no run reaches the network.  ``python -X importtime`` figures for the commands
that must stay light are printed after the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
PEERS = {"env-doctor": ["env-doctor", "check"], "ai-infradr": ["ai-infradr"], "cuda-doctor": ["cuda-doctor", "diagnose"]}
RSS_WRAPPER = ("import resource, sys\nfrom llmdoctor.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
               "    pass\nfinally:\n    sys.stderr.write('@@RSS %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")


def timed(cmd: list[str], env: dict[str, str], before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def peak_rss_mib(py: str, args: list[str], env: dict[str, str]) -> float:
    proc = subprocess.run([py, "-c", RSS_WRAPPER, *args], capture_output=True, text=True, env=env, check=False)
    line = [x for x in proc.stderr.splitlines() if x.startswith("@@RSS ")][-1]
    return int(line.split()[1]) / 1024  # ru_maxrss is KiB on Linux


def fake_nvml(n: int, folder: Path) -> str:
    base = json.loads((Path(__file__).parents[1] / "tests" / "data" / "nvml" / "h100x8_driver535.json").read_text())
    gpu = base["gpus"][0]
    base["gpus"] = [{**gpu, "uuid": f"GPU-{i:08x}-0000-0000-0000-000000000000", "pci_bus_id": f"00000000:{i % 256:02x}:00.0"}
                    for i in range(n)]
    base.pop("topology", None)
    path = folder / f"nvml_{n}.json"
    path.write_text(json.dumps(base))
    return str(path)


def peer_env(scratch: Path) -> dict[str, str]:
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), NO_COLOR="1", PYTHONDONTWRITEBYTECODE="", HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", NO_PROXY="")
    return env


def seed_env_doctor(venv: Path, home: Path) -> None:
    """env-doctor refreshes its data from GitHub unless its cache is fresh: seed it from its bundled files."""
    for data in venv.glob("lib/python*/site-packages/env_doctor/data"):
        for name, target in (("compatibility.json", ".env_doctor_cache.json"),
                             ("inference_engines.json", ".env_doctor_engines_cache.json")):
            if (data / name).exists():
                shutil.copy(data / name, home / target)


def install_llmdoctor(folder: Path) -> str:
    """llmdoctor as users install it (``pip install .``, not editable), in its own venv with the same torch;
    this tree is reinstalled into it on every run, so the figures are this tree's.  Returns its python."""
    venv = folder / "llmdoctor"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "torch==2.13.0"], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--force-reinstall", "--no-deps", str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True, stdout=subprocess.DEVNULL)
    return str(venv / "bin" / "python")


def install_peers(folder: Path) -> None:
    for name in PEERS:
        venv = folder / name
        if not (venv / "bin" / PEERS[name][0]).exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "torch==2.13.0", name], check=True)


def commands(py: str, scratch: Path, peers: Path | None) -> tuple[dict[str, tuple[list[str], dict[str, str], Callable[[], None] | None]], str]:
    exe = shutil.which("llmdoctor", path=str(Path(py).parent)) or "llmdoctor"
    cache = scratch / "cache"
    env = dict(os.environ, NO_COLOR="1", LLMDOCTOR_CACHE_DIR=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as users run it: bytecode cached (the warm-up run writes it)
    env.pop("LLMDOCTOR_FAKE_NVML", None)
    snap = scratch / "snap.json"
    subprocess.run([exe, "snapshot", "-o", str(snap)], env=env, check=True, stdout=subprocess.DEVNULL)

    def clear_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    cmds: dict[str, tuple[list[str], dict[str, str], Callable[[], None] | None]] = {
        "llmdoctor --help": ([exe, "--help"], env, None),
        "llmdoctor check --from snapshot.json": ([exe, "check", "--from", str(snap)], env, None),
        "llmdoctor check (warm)": ([exe, "check"], env, None),
        "llmdoctor check (cold)": ([exe, "check"], env, clear_cache),
        'python -c "import torch"': ([py, "-c", "import torch"], env, None),
        "python -m torch.utils.collect_env": ([py, "-m", "torch.utils.collect_env"], env, None),
    }
    for n in (1, 8, 64):
        cmds[f"llmdoctor check (warm, {n} fake GPUs)"] = ([exe, "check"], {**env, "LLMDOCTOR_FAKE_NVML": fake_nvml(n, scratch)}, None)
    if peers is not None:
        penv = peer_env(scratch)
        for name, argv in PEERS.items():
            venv = peers / name
            if (venv / "bin" / argv[0]).exists():
                seed_env_doctor(venv, Path(penv["HOME"]))
                cmds[name] = ([str(venv / "bin" / argv[0]), *argv[1:]], penv, None)
    return cmds, str(snap)


def importtime(py: str, args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([py, "-X", "importtime", "-m", "llmdoctor", *args], capture_output=True, text=True, env=env)
    rows = [line for line in proc.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    total = sum(int(r.split("|")[0].split(":")[1]) for r in rows[1:] if r.split("|")[0].split(":")[1].strip().isdigit())
    heavy = sorted(rows[1:], key=lambda r: -int(r.split("|")[1]))[:3]
    return f"{' '.join(args):28} {total / 1e6:.3f} s of imports; largest: " + "; ".join(
        f"{r.split('|')[2].strip()} {int(r.split('|')[1]) / 1e6:.3f} s" for r in heavy)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peers", type=Path, default=None, help="folder with one venv per peer")
    parser.add_argument("--install-peers", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--editable", action="store_true",
                        help="time the llmdoctor of this interpreter (an editable install) instead of a regular install")
    args = parser.parse_args()
    py = sys.executable
    scratch = Path(tempfile.mkdtemp(prefix="llmdoctor-speed-"))
    if args.install_peers and args.peers:
        install_peers(args.peers)
    if args.peers and not args.editable:
        py = install_llmdoctor(args.peers)  # as users have it: a regular install, no editable finder at start-up
    print(f"llmdoctor from {py}", flush=True)
    cmds, snap = commands(py, scratch, args.peers)
    subprocess.run(cmds["llmdoctor check (warm)"][0], env=cmds["llmdoctor check (warm)"][1], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fill the cache once
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.repeats):
        for name, (cmd, env, before) in cmds.items():
            times[name].append(timed(cmd, env, before))
    med = {name: statistics.median(v) for name, v in times.items()}
    env = cmds["llmdoctor check (warm)"][1]
    rss = {"check (warm)": peak_rss_mib(py, ["check"], env), "check --from": peak_rss_mib(py, ["check", "--from", snap], env)}
    print_table(med, rss, args.markdown)
    for a in (["--help"], ["check", "--from", snap], ["explain", "cuda.driver"], ["checks"]):
        print(importtime(py, a, env))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def print_table(med: dict[str, float], rss: dict[str, float], markdown: bool) -> None:
    warm, cold = med["llmdoctor check (warm)"], med["llmdoctor check (cold)"]
    peers = {k: v for k, v in med.items() if k in PEERS}
    rows = [(name, f"{t:.3f} s") for name, t in med.items()]
    ratios = [("warm check / collect_env", warm / med["python -m torch.utils.collect_env"], "<= 0.10"),
              ("cold check - import torch", cold - med['python -c "import torch"'], "<= 0.30 s"),
              ("--help", med["llmdoctor --help"], "<= 0.15 s"),
              ("check --from", med["llmdoctor check --from snapshot.json"], "<= 0.25 s"),
              ("64 GPUs / 1 GPU (warm)", med["llmdoctor check (warm, 64 fake GPUs)"] / med["llmdoctor check (warm, 1 fake GPUs)"], "<= 1.2")]
    for name, t in peers.items():
        ratios.append((f"warm check / {name}", warm / t, "<= 0.15 (fastest peer)"))
        ratios.append((f"cold check / {name}", cold / t, ""))
    ratios += [(f"peak RSS, {k}", v, "<= 60 MiB") for k, v in rss.items()]
    if markdown:
        print("| command | median |\n|---|---|")
        print("\n".join(f"| `{n}` | {t} |" for n, t in rows))
        print("\n| measure | value | target |\n|---|---|---|")
        print("\n".join(f"| {n} | {v:.3f} | {t} |" for n, v, t in ratios))
    else:
        for n, t in rows:
            print(f"{n:45} {t}")
        print()
        for n, v, t in ratios:
            print(f"{n:45} {v:8.3f}   {t}")


if __name__ == "__main__":
    raise SystemExit(main())
