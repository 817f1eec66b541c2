"""A real Tidings server (uvicorn, TLS) per backend, and clients that speak to it.

The official Python Track client only speaks https, so the server terminates
TLS with a certificate from a throwaway CA (trustme); clients trust that CA.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import uvicorn

from tidings.config import Settings
from tidings.server import config as server_config
from tidings.workspaces.service import Credentials


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    ca_path: str

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder: Path = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(
    database_url: str, db: Any, tls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    port = _free_port()
    settings = Settings(
        database_url=database_url,
        port=port,
        ssl_certfile=tls["cert"],
        ssl_keyfile=tls["key"],
        fetch_allowlist="127.0.0.1/32",  # collections fetch from test servers on loopback
        asset_dir=str(tmp_path_factory.mktemp("assets")),
        writer_process=True,  # as `tidings serve` runs on SQLite (ignored on PostgreSQL)
        worker_process=True,  # as it runs on PostgreSQL (on SQLite it goes with the writer)
        # Tests run clocks of their own (2023): a housekeeping round between two
        # steps of a test would prune the dedup keys it just wrote.
        housekeeping_every=None,
    )
    config = server_config(settings)
    config.timeout_graceful_shutdown = 2  # a client left open must not hold up the run
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    yield Server("127.0.0.1", port, tls["ca"])
    instance.should_exit = True
    thread.join(timeout=30)


class Api:
    """Raw HTTP access to the three surfaces of one workspace."""

    def __init__(self, server: Server, creds: Credentials) -> None:
        self.server = server
        self.creds = creds
        self.http = httpx.Client(
            base_url=server.url,
            verify=ssl.create_default_context(cafile=server.ca_path),
            timeout=10,
        )

    def track(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        auth = (self.creds.site_id, self.creds.track_api_key)
        return self.http.request(method, path, auth=auth, **kwargs)

    def app(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.creds.app_api_key}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def attributes(self, ident: str, id_type: str = "id") -> httpx.Response:
        from urllib.parse import quote

        return self.app(
            "GET", f"/v1/customers/{quote(ident, safe='')}/attributes", params={"id_type": id_type}
        )

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def api(server: Server, workspace: Credentials) -> Iterator[Api]:
    client = Api(server, workspace)
    yield client
    client.close()


@pytest.fixture
def other_api(server: Server, other_workspace: Credentials) -> Iterator[Api]:
    client = Api(server, other_workspace)
    yield client
    client.close()


@pytest.fixture(scope="module")
def node(request: pytest.FixtureRequest, server: Server, tmp_path_factory: pytest.TempPathFactory):
    """A Node process running the module's `NODE_SCRIPT` (default `run.mjs`, tests/api/node)
    against the test server, for driving the official Node SDKs."""
    from tests.api.node_runner import NodeRunner

    script = getattr(request.module, "NODE_SCRIPT", "run.mjs")
    runner = NodeRunner(script, server.ca_path, tmp_path_factory.mktemp("node") / "stderr.log")
    yield runner
    runner.close()
