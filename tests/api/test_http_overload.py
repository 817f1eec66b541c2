"""Overload and hostile connections are answered at the HTTP layer (tidings.http_protocol).

Each server here runs with small limits so that the limits are reached by a
handful of raw sockets: pipelined requests past the admission limit get 429,
oversized headers 431, stalled headers and bodies 408, connections past the
cap either push out the longest-waiting idle one or get 503; a request the
parser refuses gets a JSON 400 in its surface's format.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httptools
import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from tests.support import eventually, free_port
from tidings.config import Settings
from tidings.db.schema import events
from tidings.server import config as server_config
from tidings.workspaces.service import Credentials


@contextmanager
def running(settings: Settings) -> Iterator[int]:
    instance = uvicorn.Server(server_config(settings))
    instance.config.timeout_graceful_shutdown = 2
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    eventually(lambda: instance.started or not thread.is_alive(), timeout=15)
    assert thread.is_alive(), "server did not start"
    try:
        yield settings.port
    finally:
        instance.should_exit = True
        thread.join(timeout=30)


def _settings(database_url: str, **limits: Any) -> Settings:
    base = Settings(database_url=database_url, port=free_port(), housekeeping_every=None)
    return dataclasses.replace(base, **limits)


@pytest.fixture(scope="module")
def quick(database_url: str, db: Any) -> Iterator[int]:
    """Short read timeouts, a small header limit."""
    settings = _settings(
        database_url, max_header_bytes=16 * 1024, header_timeout=0.5, body_timeout=0.5
    )
    with running(settings) as port:
        yield port


@pytest.fixture(scope="module")
def two(database_url: str, db: Any) -> Iterator[int]:
    """Two requests admitted at a time, and patient reads."""
    settings = _settings(database_url, max_in_flight=2, header_timeout=60, body_timeout=60)
    with running(settings) as port:
        yield port


@pytest.fixture(scope="module")
def capped(database_url: str, db: Any) -> Iterator[int]:
    """Three connections at most, and patient reads."""
    settings = _settings(database_url, max_connections=3, header_timeout=60, body_timeout=60)
    with running(settings) as port:
        yield port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def event_request(creds: Credentials, n: int, name: str = "flood") -> bytes:
    token = base64.b64encode(f"{creds.site_id}:{creds.track_api_key}".encode()).decode()
    body = json.dumps({"name": name, "data": {"n": n}}).encode()
    head = (
        f"POST /api/v1/customers/c{n}/events HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


class Answers:
    """Responses parsed off one socket, in order (httptools' response parser)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.items: list[dict[str, Any]] = []
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.items.append({"headers": {}, "body": b""})

    def on_header(self, name: bytes, value: bytes) -> None:
        self.items[-1]["headers"][name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.items[-1]["status"] = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.items[-1]["body"] += body

    def on_message_complete(self) -> None:
        self.items[-1]["done"] = True

    def read(self, count: int) -> list[dict[str, Any]]:
        """Read until `count` whole responses arrived or the server closed."""
        while not self.closed and sum(1 for i in self.items if i.get("done")) < count:
            self._receive()
        return [i for i in self.items if i.get("done")]

    def read_to_close(self) -> list[dict[str, Any]]:
        while not self.closed:
            self._receive()
        return [i for i in self.items if i.get("done")]

    def _receive(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return
        self._parser.feed_data(data)


def test_past_the_admitted_requests_a_pipelined_flood_gets_429_but_healthz_answers(
    two: int, workspace: Credentials
):
    held = [_busy(two), _busy(two)]  # both admitted, their handlers waiting for bodies
    flood = [event_request(workspace, n) for n in range(20)]
    flood.insert(10, HEALTHZ)
    flood[-1] = flood[-1].replace(b"Host: t\r\n", b"Host: t\r\nConnection: close\r\n")
    sock = connect(two)
    with sock:
        sock.sendall(b"".join(flood))
        answers = Answers(sock).read_to_close()  # the last asked to close
    assert [a["status"] for a in answers] == [429] * 10 + [200] + [429] * 10
    assert answers[10]["body"] == b'{"status":"ok"}'
    assert all(a["headers"]["retry-after"] == "1" for a in answers if a["status"] == 429)
    assert json.loads(answers[0]["body"]) == {"meta": {"error": "server busy, retry shortly"}}
    assert answers[-1]["headers"]["connection"] == "close"
    for sock in held:
        sock.close()
    # Their handlers see the clients gone and give their places back.
    eventually(lambda: _post(two, event_request(workspace, 99)) == 200, timeout=10)


def _post(port: int, request: bytes) -> int:
    with connect(port) as sock:
        sock.sendall(request)
        return Answers(sock).read(1)[0]["status"]


def test_headers_past_the_limit_get_431_and_the_connection_closes(quick: int):
    sock = connect(quick)
    with sock:
        sock.sendall(b"GET /api/v1/customers/x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
        answers = Answers(sock).read_to_close()
    assert [a["status"] for a in answers] == [431]
    assert answers[0]["headers"]["connection"] == "close"


def test_headers_not_finished_in_time_get_408_and_close(quick: int):
    sock = connect(quick)
    with sock:
        sock.sendall(b"POST /api/v1/customers/x/events HTTP/1.1\r\nHost: t\r\n")
        answers = Answers(sock).read_to_close()
    assert [a["status"] for a in answers] == [408]


def test_a_body_shorter_than_its_content_length_gets_408_and_close(
    quick: int, workspace: Credentials, query: Any
):
    whole = event_request(workspace, 1, "cut-short")
    sock = connect(quick)
    with sock:
        # A whole JSON body, a hundred bytes short of its Content-Length.
        sock.sendall(whole.replace(b"Content-Length: ", b"Content-Length: 1"))
        answers = Answers(sock).read_to_close()
    assert [a["status"] for a in answers] == [408]
    assert json.loads(answers[0]["body"]) == {
        "meta": {"error": "request body not received in time"}
    }
    # Its handler saw the client leave, not a body: a later write commits, that one never.
    with connect(quick) as later:
        later.sendall(event_request(workspace, 2, "after"))
        assert [a["status"] for a in Answers(later).read(1)] == [200]
    assert query(_count_named, "cut-short") == 0
    assert query(_count_named, "after") == 1


def _count_named(conn: Any, name: str) -> int:
    return conn.execute(select(func.count()).where(events.c.name == name)).scalar_one()


def test_connections_past_the_cap_push_out_the_longest_idle_then_get_503(capped: int):
    waiting = [connect(capped) for _ in range(3)]
    for sock in waiting:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # half-sent: waiting on the client
    # A fourth connection makes room by closing the longest-waiting one.
    assert httpx.get(f"http://127.0.0.1:{capped}/healthz", timeout=10).status_code == 200
    assert Answers(waiting[0]).read_to_close() == []
    busy = [_busy(capped) for _ in range(3)]  # pushes out the other idle ones
    try:
        late = connect(capped)
        with late:  # answered at once, before it sends anything
            answers = Answers(late).read_to_close()
        assert [a["status"] for a in answers] == [503]
        assert answers[0]["headers"]["retry-after"] == "1"
    finally:
        for sock in waiting + busy:
            sock.close()


def _busy(port: int) -> socket.socket:
    """A connection whose request is being handled: its handler waits for the body."""
    sock = connect(port)
    sock.sendall(
        b"POST /api/v1/customers/x/events HTTP/1.1\r\nHost: t\r\n"
        b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"
    )
    deadline = time.monotonic() + 10
    seen = b""
    while b"\r\n\r\n" not in seen and time.monotonic() < deadline:
        seen += sock.recv(1024)
    assert seen.startswith(b"HTTP/1.1 100"), seen
    return sock


URL_BYTE = "the request line holds a byte that is not allowed in a URL; percent-encode it"


@pytest.mark.parametrize(
    ("request_line", "body"),
    [
        (b"GET /api/v1/customers/\xff HTTP/1.1", {"meta": {"error": URL_BYTE}}),
        (
            b"POST /api/v2/entity?x=\xff HTTP/1.1",
            {"errors": [{"reason": "invalid_request", "field": "", "message": URL_BYTE}]},
        ),
        (b"GET /v1/customers/\xff/attributes HTTP/1.1", {"meta": {"error": URL_BYTE}}),
        (b"POST /v1/track?\xff HTTP/1.1", {"code": "invalid_request", "message": URL_BYTE}),
        (
            b"HELLO THERE",
            {"meta": {"error": "not an HTTP request line: expected METHOD /path HTTP/1.1"}},
        ),
    ],
    ids=["track", "track_v2", "app", "pipelines", "garbage"],
)
def test_a_request_the_parser_refuses_gets_its_surfaces_json_400_and_close(
    quick: int, request_line: bytes, body: dict[str, Any], caplog: pytest.LogCaptureFixture
):
    with connect(quick) as sock:
        # Past the first piece parsed (http_protocol.PIECE): the rest is not parsed.
        sock.sendall(request_line + b"\r\nHost: t\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
        answers = Answers(sock).read_to_close()
    assert [a["status"] for a in answers] == [400]
    assert answers[0]["headers"]["content-type"].startswith("application/json")
    assert answers[0]["headers"]["connection"] == "close"
    assert json.loads(answers[0]["body"]) == body
    # Refused once: the pieces after the bad one are not fed to the failed parser.
    assert caplog.text.count("Invalid HTTP request received.") == 1


def test_a_refused_request_after_an_answered_one_is_read_from_its_own_request_line(quick: int):
    with connect(quick) as sock:
        sock.sendall(HEALTHZ)
        answers = Answers(sock)
        assert [a["status"] for a in answers.read(1)] == [200]
        sock.sendall(b"GET /api/v2/entity/\xff HTTP/1.1\r\nHost: t\r\n\r\n")
        refused = answers.read_to_close()[1]
    assert refused["status"] == 400
    assert json.loads(refused["body"])["errors"][0]["message"] == URL_BYTE


def test_a_refused_request_pipelined_behind_others_is_answered_after_them(quick: int):
    with connect(quick) as sock:
        sock.sendall(HEALTHZ * 2 + b"GET /v1/customers/\xff HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = Answers(sock).read_to_close()
    assert [a["status"] for a in answers] == [200, 200, 400]
    assert json.loads(answers[2]["body"]) == {"meta": {"error": URL_BYTE}}
    assert answers[2]["headers"]["connection"] == "close"


def test_refusals_in_one_burst_each_answer_in_their_own_surfaces_format(two: int):
    """The 429s are prebuilt once per surface and form: the cache must tell them apart."""
    held = [_busy(two), _busy(two)]
    burst = [
        b"POST /api/v1/customers/a/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /api/v2/batch HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/track HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /v1/customers?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /api/v1/customers/c/events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    ]
    sock = connect(two)
    with sock:
        sock.sendall(b"".join(burst))
        got = Answers(sock).read_to_close()
    assert [a["status"] for a in got] == [429] * 5
    busy = "server busy, retry shortly"
    assert [json.loads(a["body"]) for a in got[:4]] == [
        {"meta": {"error": busy}},
        {"errors": [{"reason": "overloaded", "field": "", "message": busy}]},
        {"code": "overloaded", "message": busy},
        {"meta": {"error": busy}},
    ]
    assert got[-1]["body"] == got[0]["body"]
    assert got[-1]["headers"]["connection"] == "close"
    assert "connection" not in got[0]["headers"]
    # A HEAD is refused with the same head and no body.
    with connect(two) as sock:
        sock.sendall(b"HEAD /api/v1/customers/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 429 ") and raw.endswith(b"\r\n\r\n"), raw
    for sock in held:
        sock.close()


def test_a_refused_request_to_the_web_ui_gets_its_html_error_page(two: int, quick: int):
    """A browser is shown a page in the UI's layout, not the APIs' JSON."""
    held = []
    for _ in range(2):  # once the places the test before held are given back
        eventually(lambda: _post(two, b"GET /login HTTP/1.1\r\nHost: t\r\n\r\n") == 200)
        held.append(_busy(two))
    with connect(two) as sock:
        sock.sendall(
            b"GET /people HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /login HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab"
        )
        got = Answers(sock).read_to_close()
    assert [a["status"] for a in got] == [429, 429]
    for answer in got:
        assert answer["headers"]["content-type"] == "text/html; charset=utf-8"
        assert answer["headers"]["retry-after"] == "1"
        assert "content-security-policy" in answer["headers"]
        page = answer["body"].decode()
        assert "<h1>Too many requests</h1>" in page and "The server is busy." in page
        assert "Try again in 1 second." in page and 'href="/login"' in page
    for sock in held:
        sock.close()
    with connect(quick) as sock:
        sock.sendall(b"GET /people HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
        [too_big] = Answers(sock).read_to_close()
    assert too_big["status"] == 431
    assert too_big["headers"]["content-type"] == "text/html; charset=utf-8"
    assert b"headers too large" in too_big["body"]
