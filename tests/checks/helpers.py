import dataclasses

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.snapshot import Driver, Snapshot, freeze_mapping

from conftest import load_scenario


def run(check_id: str, snap: Snapshot, **options):
    spec = load_registry().get(check_id)
    assert spec is not None, check_id
    return run_check(spec, snap, Context(options))


def with_driver(snap: Snapshot, version: str | None, cuda: str | None, platform: str = "linux") -> Snapshot:
    return dataclasses.replace(snap, driver=Driver(version=version, cuda_version=cuda, platform=platform))


def with_torch(snap: Snapshot, **changes) -> Snapshot:
    return dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, **changes))


def with_env(snap: Snapshot, **env) -> Snapshot:
    return dataclasses.replace(snap, env=freeze_mapping(env))


def scenario(name: str) -> Snapshot:
    return load_scenario(name)


def messages(result) -> str:
    return "\n".join(f.message + " " + str(f.remedy or "") for f in result.findings)
