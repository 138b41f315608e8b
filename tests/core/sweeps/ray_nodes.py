"""A real Ray cluster of several nodes on this one machine, each node started with `ray start`
exactly as on a lab's machines (docs/cluster.md), for tests/core/sweeps/test_ray_two_nodes.py and
benchmarks/bench_ray_nodes.py.

Each cluster has its own temporary folder (short: Ray's socket paths must fit in 107 characters),
its own free ports (nothing shared with another Ray on the machine, whose default ports are
left alone) and its own authentication token. Its address file lies in that folder, so a plain
`ray.init()` elsewhere on the machine never joins it. Nodes are ended by process id (never
`ray stop`, which would stop every Ray of the machine): `kill(node)` is a node that vanishes
(SIGKILL to its raylet and everything under it), `stop()` ends every process of the cluster.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # per node; tiny jobs, and /dev/shm is shared


def free_port() -> int:
    """A TCP port nobody listens on now, outside Ray's default worker range 10002-19999."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port


@dataclass
class Node:
    node_id: str
    raylet_pid: int
    head: bool


@dataclass
class RayNodes:
    """`start()` the head and its workers, `add_worker()` one more later; `env` is what a driver
    (`pepr sweep --address ADDRESS`) needs in its environment to join."""

    num_cpus: int = 1
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="prn", dir="/tmp")))
    address: str = ""
    nodes: list[Node] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",  # Ray's default for `ray start` once a token exists
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
        }
        self.env.pop("RAY_ADDRESS", None)

    def start(self, workers: int = 1) -> list[Node]:
        """The head and `workers` worker nodes, started at once (a worker's `ray start` waits
        for the head's GCS to answer): the nodes, head first."""
        port = free_port()
        self.address = f"{_this_host_ip()}:{port}"
        head = ["--head", f"--port={port}", f"--temp-dir={self.root}", "--include-dashboard=false",
                f"--dashboard-port={free_port()}"]  # fmt: skip
        launched = [self._launch(head)] + [
            self._launch([f"--address={self.address}"]) for _ in range(workers)
        ]
        return [self._joined(*x, head=i == 0) for i, x in enumerate(launched)]

    def add_worker(self) -> Node:
        if not self.address:
            raise RuntimeError("start the head first")
        return self._joined(*self._launch([f"--address={self.address}"]), head=False)

    def _launch(self, args: list[str]) -> tuple[subprocess.Popen, int]:
        manager = free_port()
        cmd = [RAY, "start", *args, f"--num-cpus={self.num_cpus}", "--num-gpus=0",
               f"--node-manager-port={manager}", f"--object-manager-port={free_port()}",
               f"--dashboard-agent-listen-port={free_port()}",
               f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats"]  # fmt: skip
        out = subprocess.PIPE
        return subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out, text=True), manager

    def _joined(self, proc: subprocess.Popen, manager: int, *, head: bool) -> Node:
        stdout, stderr = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{stdout}\n{stderr}")
        node = Node(*_raylet(manager), head=head)
        self.nodes.append(node)
        return node

    def kill(self, node: Node) -> None:
        """The node vanishes: SIGKILL to its raylet and every process under it (its workers)."""
        try:
            raylet = psutil.Process(node.raylet_pid)
            procs = [raylet, *raylet.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()

    def processes(self) -> list[psutil.Process]:
        """Every live process of this cluster (its folder is in their command lines)."""
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            if str(self.root) in " ".join(p.info["cmdline"] or []):
                for q in [p, *_children(p)]:
                    found[q.pid] = q
        return list(found.values())

    def stop(self) -> None:
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(self.processes(), timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RayNodes:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _this_host_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:  # a host name that does not resolve: the loopback reaches the head too
        return "127.0.0.1"


def _children(p: psutil.Process) -> list[psutil.Process]:
    try:
        return p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _raylet(manager_port: int, timeout_s: float = 30.0) -> tuple[str, int]:
    """(node id, raylet pid) of the node whose raylet listens on `manager_port`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in psutil.process_iter(["name", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if "raylet" in (p.info["name"] or "") and f"--node_manager_port={manager_port}" in cmd:
                found = re.search(r"--node_id=([0-9a-f]+)", cmd)
                if found:
                    return found.group(1), p.pid
        time.sleep(0.2)
    raise RuntimeError(f"no raylet on node manager port {manager_port}")
