"""Launcher variables: torchrun / PyTorchJob, srun, mpirun, none."""

from __future__ import annotations

import pytest

from llmdoctor.cluster.launch import from_environ
from llmdoctor.engine import UsageError


def test_torchrun_variables():
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n0", "MASTER_PORT": "29400",
           "TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_RUN_ID": "job", "TORCHELASTIC_RESTART_COUNT": "2"}
    launch = from_environ(env)
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_rank) == ("torchrun", 3, 8, 1)
    assert (launch.master_addr, launch.master_port, launch.agent_store, launch.run_id) == ("n0", 29400, True, "job.2")


def test_srun_variables_fall_back_to_the_launch_node_address():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "5", "SLURM_LAUNCH_NODE_IPADDR": "10.1.1.1",
           "SLURM_JOB_ID": "77"}
    launch = from_environ(env)
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_rank) == ("srun", 5, 16, 5)
    assert launch.master_addr == "10.1.1.1" and launch.master_port == 29500 and launch.run_id == "77.0"


def test_mpirun_variables_need_master_addr():
    env = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0"}
    with pytest.raises(UsageError, match="MASTER_ADDR"):
        from_environ(env)
    launch = from_environ({**env, "MASTER_ADDR": "head"})
    assert (launch.launcher, launch.rank, launch.master_addr) == ("mpirun", 1, "head")


def test_no_launcher_is_a_single_rank_and_bad_values_are_usage_errors():
    assert from_environ({}).launcher == "single" and from_environ({}).world_size == 1
    with pytest.raises(UsageError):
        from_environ({"RANK": "4", "WORLD_SIZE": "2", "MASTER_ADDR": "x"})
    with pytest.raises(UsageError):
        from_environ({"RANK": "x", "WORLD_SIZE": "2"})
