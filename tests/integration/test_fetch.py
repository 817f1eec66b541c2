"""The guarded fetcher against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import trustme

from tests.httpserver import Reply, serve
from tidings.fetch import Allowlist, FetchFailed, FetchRefused, fetch, open_url

LOCAL = Allowlist.parse("127.0.0.1/32")
MB = 1024 * 1024


@pytest.fixture
def routes() -> dict[str, Reply]:
    return {
        "/rows.json": Reply(body=b'[{"a": 1}]', content_type="application/json"),
        "/big": Reply(body=b"x" * 5000),
        "/big-chunked": Reply(body=b"x" * 200_000, chunked=True),
        "/gone": Reply(status=404, body=b"no"),
        "/broken": Reply(status=503, body=b"later"),
        "/slow-down": Reply(status=429),
    }


@pytest.fixture
def site(routes: dict[str, Reply]) -> Iterator[object]:
    with serve(routes) as s:
        yield s


def test_loopback_is_refused_by_default(site) -> None:
    with pytest.raises(FetchRefused, match="127.0.0.1, a loopback address"):
        fetch(site.url("/rows.json"), allow=Allowlist(), max_bytes=MB)
    assert site.requests == []


def test_allowlisted_address_is_fetched(site) -> None:
    got = fetch(site.url("/rows.json"), allow=LOCAL, max_bytes=MB)
    assert got.body == b'[{"a": 1}]'
    assert got.content_type == "application/json"
    assert got.url == site.url("/rows.json")


def test_a_name_resolving_to_loopback_is_refused(site) -> None:
    with pytest.raises(FetchRefused, match="localhost resolves to"):
        fetch(site.url("/rows.json", host="localhost"), allow=Allowlist(), max_bytes=MB)


def test_host_header_keeps_the_name_and_an_allowlisted_name_is_fetched(site) -> None:
    if "::1" in {i[4][0] for i in socket.getaddrinfo("localhost", site.port)}:
        # The server listens on 127.0.0.1 only, and ::1 may come first.
        pytest.skip("localhost resolves to ::1 here")
    got = fetch(
        site.url("/rows.json", host="localhost"), allow=Allowlist.parse("localhost"), max_bytes=MB
    )
    assert got.body == b'[{"a": 1}]'
    assert site.requests[-1] == ("/rows.json", f"localhost:{site.port}")


def test_redirects_are_followed_and_rechecked(site, routes: dict[str, Reply]) -> None:
    routes["/hop"] = Reply(status=302, headers={"Location": "/rows.json"})
    got = fetch(site.url("/hop"), allow=LOCAL, max_bytes=MB)
    assert got.body == b'[{"a": 1}]'
    assert got.url == site.url("/rows.json")

    routes["/to-metadata"] = Reply(status=301, headers={"Location": "http://169.254.169.254/x"})
    with pytest.raises(FetchRefused, match="169.254.169.254, a cloud metadata address"):
        fetch(site.url("/to-metadata"), allow=LOCAL, max_bytes=MB)
    routes["/to-private"] = Reply(status=307, headers={"Location": "http://10.0.0.1/"})
    with pytest.raises(FetchRefused, match="10.0.0.1"):
        fetch(site.url("/to-private"), allow=LOCAL, max_bytes=MB)


def test_redirects_are_limited(site, routes: dict[str, Reply]) -> None:
    for n in range(6):
        routes[f"/r{n}"] = Reply(status=302, headers={"Location": f"/r{n + 1}"})
    routes["/r6"] = Reply(body=b"end")
    assert fetch(site.url("/r1"), allow=LOCAL, max_bytes=MB).body == b"end"  # five redirects
    with pytest.raises(FetchFailed, match="more than 5 redirects") as caught:
        fetch(site.url("/r0"), allow=LOCAL, max_bytes=MB)
    assert caught.value.permanent


def test_redirect_to_another_scheme_is_refused(site, routes: dict[str, Reply]) -> None:
    routes["/to-file"] = Reply(status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(FetchFailed, match="only http and https") as caught:
        fetch(site.url("/to-file"), allow=LOCAL, max_bytes=MB)
    assert caught.value.permanent


def test_content_length_over_the_cap_fails_before_reading(site) -> None:
    with pytest.raises(FetchFailed, match="larger than 4096 bytes") as caught:
        fetch(site.url("/big"), allow=LOCAL, max_bytes=4096)
    assert caught.value.permanent


def test_streamed_body_over_the_cap_fails(site) -> None:
    with open_url(site.url("/big-chunked"), allow=LOCAL, max_bytes=100_000) as opened:
        received = 0
        with pytest.raises(FetchFailed, match="larger than 100000 bytes") as caught:
            for chunk in opened.iter_bytes():
                received += len(chunk)
    assert caught.value.permanent
    assert received <= 100_000
    assert len(fetch(site.url("/big-chunked"), allow=LOCAL, max_bytes=200_000).body) == 200_000


@pytest.mark.parametrize(
    ("path", "permanent"), [("/gone", True), ("/broken", False), ("/slow-down", False)]
)
def test_error_statuses(site, path: str, permanent: bool) -> None:
    with pytest.raises(FetchFailed, match="the server responded") as caught:
        fetch(site.url(path), allow=LOCAL, max_bytes=MB)
    assert caught.value.permanent is permanent


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "/relative", "http://"]
)
def test_bad_urls_fail_permanently(url: str) -> None:
    with pytest.raises(FetchFailed) as caught:
        fetch(url, allow=LOCAL, max_bytes=MB)
    assert caught.value.permanent


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchFailed) as caught:
        fetch(f"http://127.0.0.1:{port}/", allow=LOCAL, max_bytes=MB)
    assert not caught.value.permanent


def test_timeout_is_transient() -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        with pytest.raises(FetchFailed, match="timed out") as caught:
            fetch(url, allow=LOCAL, max_bytes=MB, timeout=0.3)
    assert not caught.value.permanent


def test_tls_verifies_the_original_host_name() -> None:
    """Connected to 127.0.0.1, TLS still sends and verifies the name in the URL."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    routes = {"/x": Reply(body=b"secret")}
    allow = Allowlist.parse("127.0.0.1/32,::1")
    with serve(routes, tls=server_tls) as site:
        if socket.getaddrinfo("localhost", site.port)[0][4][0] != "127.0.0.1":
            pytest.skip("localhost does not resolve to 127.0.0.1 first here")
        got = fetch(site.url("/x", host="localhost"), allow=allow, max_bytes=MB, verify=client_tls)
        assert got.body == b"secret"
        # The certificate names localhost, not 127.0.0.1: asking by address fails.
        with pytest.raises(FetchFailed) as caught:
            fetch(site.url("/x"), allow=allow, max_bytes=MB, verify=client_tls)
        assert caught.value.permanent
