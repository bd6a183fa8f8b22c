"""Folds as Ray tasks, on a Ray cluster these tests start on 127.0.0.1 (a head and two one-CPU worker nodes, one
cluster for the module: Ray takes a while to start): the same experiment as the local executor, byte for byte,
also when a worker node is lost in the middle of the run."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import ray
import ray._private.ray_constants as ray_constants
from ray.cluster_utils import Cluster
from submit.models.progress import Listener, Stage, listening
from typer.testing import CliRunner

from submit.cli import app
from submit.pipeline import run_competition

ON_THIS_MACHINE = {"node_ip_address": "127.0.0.1", "include_dashboard": False}


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray turns a loopback address into the machine's own when a driver connects: keep it on 127.0.0.1.
    multi_host, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **ON_THIS_MACHINE})  # folds go to workers
    for _ in range(2):
        cluster.add_node(num_cpus=1, **ON_THIS_MACHINE)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    ray_constants.ENABLE_RAY_CLUSTER = multi_host


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The bundled LMSYS sample's default recipe, run by the local executor."""
    return run_competition("lmsys", runs_dir=tmp_path_factory.mktemp("local"))


def same_files(a, b) -> bool:
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in ("oof.parquet", "test.parquet"))


def test_submit_with_the_ray_executor_gives_the_local_experiment(cluster, local, tmp_path):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", "lmsys", "--executor", "ray", "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    experiment = re.search(r"Experiment (\S+):", result.output)[1]
    assert experiment == local.result.id
    assert same_files(runs / "lmsys" / experiment, local.result.dir)


class LoseANode(Listener):
    """When the first fold comes back, another is still running: take a worker node away, with its fold."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster, self.removed = cluster, False

    def advanced(self, stage: Stage) -> None:
        if stage.name == "folds" and stage.done >= 1 and not self.removed:
            self.cluster.remove_node(next(iter(self.cluster.worker_nodes)), allow_graceful=False)
            self.removed = True


def test_a_cluster_that_loses_a_node_mid_run_finishes_with_the_same_predictions(cluster, local, tmp_path):
    lose = LoseANode(cluster)
    with listening(lose):
        outcome = run_competition("lmsys", runs_dir=tmp_path / "runs", executor="ray")
    assert lose.removed and len(cluster.worker_nodes) == 1
    assert outcome.result.id == local.result.id and outcome.result.folds_run == 5
    assert same_files(outcome.result.dir, local.result.dir)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound once by the OS, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_is_refused_quickly_and_leaves_no_experiment(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    env = {**os.environ, "RAY_ADDRESS": address, "SUBMIT_RAY_CONNECT_TIMEOUT": "5"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "submit", "wsdm", "--executor", "ray", "--runs", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60  # Ray alone retried for minutes
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert f"RAY_ADDRESS={address}" in message and "without `--executor ray`" in message
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "wsdm").exists() or not any(p.is_dir() and p.name != "folds"
                                                     for p in (tmp_path / "wsdm").iterdir())
