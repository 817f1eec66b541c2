"""`tidings serve --tls-port`: plain http and https from one server (here with two
worker processes), and a hint when TLS reaches the plain port."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.tls import TestCA
from tests.support import CLI, eventually, free_port, wait_healthy


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, TestCA, Path]]:
    folder = tmp_path_factory.mktemp("tls-port")
    ca = TestCA(folder)
    plain, tls = free_port(), free_port()
    log = folder / "stderr.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--data-dir",
                str(folder / "data"),
                "--port",
                str(plain),
                "--tls-port",
                str(tls),
                "--ssl-certfile",
                ca.cert_file,
                "--ssl-keyfile",
                ca.key_file,
                "--workers",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_healthy(plain, timeout=60)
        yield plain, tls, ca, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_one_server_answers_http_and_https(both: tuple[int, int, TestCA, Path]):
    plain, tls, ca, _ = both
    secure = httpx.get(f"https://127.0.0.1:{tls}/healthz", verify=ca.client_context(), timeout=10)
    assert secure.status_code == 200
    assert httpx.get(f"http://127.0.0.1:{plain}/healthz", timeout=10).status_code == 200


def test_tls_on_the_plain_port_is_closed_with_a_hint_in_the_log(
    both: tuple[int, int, TestCA, Path],
):
    plain, tls, ca, log = both
    raw = socket.create_connection(("127.0.0.1", plain), timeout=10)
    with raw, pytest.raises((ssl.SSLError, ConnectionError)):
        ca.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    hint = f"TLS reached the plain port {plain}; use https on --tls-port {tls}"
    eventually(lambda: hint in log.read_text(), timeout=10)
