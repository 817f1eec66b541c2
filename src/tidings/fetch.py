"""Fetch user-supplied http(s) URLs without letting them reach inside our network.

Errors (both carry a message fit to show the user):

    FetchRefused   the URL, or an address its host resolves to, is not allowed;
                   never worth retrying.
    FetchFailed    anything else: bad URL or scheme, network error, timeout,
                   HTTP error status, body too large. `permanent` says whether
                   a retry could help (False for timeouts, connection errors,
                   5xx, 408 and 429).

The guard against server-side request forgery, and why it is built this way:

1. Only `http` and `https`.
2. The host name is resolved once, here (`getaddrinfo`), and the fetch is
   refused when ANY of its addresses is not globally routable: loopback,
   private (RFC 1918, fc00::/7), link-local, CGNAT 100.64/10, unspecified,
   multicast, reserved, documentation ranges, and IPv4 addresses hidden in
   IPv6 (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`). The operator's `Allowlist`
   can permit such addresses by CIDR or by host name; cloud metadata
   addresses (169.254.169.254, fd00:ec2::254, ...) only when the allowlist
   names that exact address, never through a wider range or a host name.
3. The request then goes to the address that was checked: the URL handed to
   httpx carries the IP literal, the `Host` header carries the original
   host, and httpx's `sni_hostname` request extension makes TLS send the
   original name and verify the certificate against it. There is no second
   DNS lookup, so a name that re-resolves to 127.0.0.1 between check and
   connect (DNS rebinding) gains nothing. This needs no custom transport:
   plain httpx, with `trust_env=False` so no proxy from the environment
   reconnects by name.
4. Redirects are followed here, at most `MAX_REDIRECTS`, and each target goes
   through steps 1-3 again.
5. The body is capped: a `Content-Length` above the cap fails at once, and
   `Opened.iter_bytes` fails as soon as more than `max_bytes` (decoded)
   arrived. `timeout` bounds each connect and each read, and the whole
   body download (checked between chunks). DNS resolution uses the system
   resolver's own timeouts.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a fetch is made: most processes start without one
    import httpx

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "tidings-fetch/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address)
    )
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


class FetchRefused(Exception):
    """The URL or an address it resolves to is not allowed. Never retry."""


class FetchFailed(Exception):
    """The fetch did not succeed; `permanent` is True when a retry cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


# --- addresses ---------------------------------------------------------------


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped or NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be fetched from by default, or None for a public address."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return refusal_reason(inner)
    checks = (
        (ip in METADATA_ADDRESSES, "a cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT, "a shared (CGNAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def is_metadata(ip: IPAddress) -> bool:
    return (embedded_ipv4(ip) or ip) in METADATA_ADDRESSES


@dataclass(frozen=True)
class Allowlist:
    """Addresses and host names the operator lets fetches reach despite the guard."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """Comma-separated CIDRs ("127.0.0.0/8", "10.1.2.3") and host names; "" = none."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            network = _network(item)
            if network is not None:
                networks.append(network)
            elif HOST_NAME.match(_normal_host(item)):
                hosts.add(_normal_host(item))
            else:
                raise ValueError(f"fetch allowlist: {item!r} is neither a CIDR nor a host name")
        return cls(tuple(networks), frozenset(hosts))

    def permits(self, host: str, ip: IPAddress) -> bool:
        """Whether `ip`, which `host` resolved to, may be fetched from."""
        if is_metadata(ip):
            exact = ip.max_prefixlen
            return any(n.prefixlen == exact and ip in n for n in self.networks)
        if _normal_host(host) in self.hosts:
            return True
        candidates = [ip] + [a for a in [embedded_ipv4(ip)] if a is not None]
        return any(a in n for a in candidates for n in self.networks if a.version == n.version)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def check_address(host: str, ip: IPAddress, allow: Allowlist) -> None:
    """Raise FetchRefused unless `ip` is public or permitted by the allowlist."""
    reason = refusal_reason(ip)
    if reason is not None and not allow.permits(host, ip):
        raise FetchRefused(f"{host} resolves to {ip}, {reason}; fetching it is not allowed")


def resolve(host: str, port: int, allow: Allowlist) -> IPAddress:
    """The address to connect to, after checking every address `host` has."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        permanent = exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        raise FetchFailed(f"cannot resolve {host}: {exc.strerror}", permanent=permanent) from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise FetchFailed(f"cannot resolve {host}", permanent=False)
    for ip in addresses:
        check_address(host, ip, allow)
    return addresses[0]


# --- fetching ----------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    body: bytes


class Opened:
    """A response whose headers arrived; read the body with `iter_bytes`."""

    def __init__(self, url: str, response: httpx.Response, max_bytes: int, deadline: float):
        self.url = url
        self.content_type = response.headers.get("content-type", "")
        self._response = response
        self._max_bytes = max_bytes
        self._deadline = deadline

    def iter_bytes(self) -> Iterator[bytes]:
        """The body in chunks; FetchFailed once it exceeds the cap or the deadline."""
        received = 0
        with _translated_errors(self.url):
            for chunk in self._response.iter_bytes():
                received += len(chunk)
                if received > self._max_bytes:
                    raise FetchFailed(_too_large(self.url, self._max_bytes), permanent=True)
                if time.monotonic() > self._deadline:
                    raise FetchFailed(f"{self.url}: download took too long", permanent=False)
                yield chunk


def fetch(
    url: str,
    *,
    allow: Allowlist,
    max_bytes: int,
    timeout: float = 30.0,
    verify: ssl.SSLContext | None = None,
) -> Fetched:
    """GET `url` through the guard and read the whole body (see `open_url`)."""
    with open_url(url, allow=allow, max_bytes=max_bytes, timeout=timeout, verify=verify) as opened:
        body = b"".join(opened.iter_bytes())
        return Fetched(opened.url, opened.content_type, body)


@contextmanager
def open_url(
    url: str,
    *,
    allow: Allowlist,
    max_bytes: int,
    timeout: float = 30.0,
    verify: ssl.SSLContext | None = None,
) -> Iterator[Opened]:
    """GET `url` through the guard, following redirects; yields once headers arrived.

    `verify` is the TLS trust to use (None: the system's); tests pass their CA.
    """
    deadline = time.monotonic() + timeout
    target = parse_url(url)
    with _client(timeout, verify) as client:
        final, response = _follow(client, target, allow)
        try:
            _check_response(str(final), response, max_bytes)
            yield Opened(str(final), response, max_bytes, deadline)
        finally:
            response.close()


def _client(timeout: float, verify: ssl.SSLContext | None) -> httpx.Client:
    """No environment proxies (they would reconnect by name) and no automatic redirects
    (each one is re-checked by hand)."""
    import httpx

    return httpx.Client(
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        verify=verify if verify is not None else True,
        headers={"User-Agent": USER_AGENT},
    )


def parse_url(url: str) -> httpx.URL:
    """The URL, if it is an absolute http(s) URL with a host; else FetchFailed."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchFailed(f"not a valid URL: {url!r}", permanent=True) from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchFailed(f"only http and https URLs can be fetched, not {url!r}", permanent=True)
    if not parsed.host:
        raise FetchFailed(f"the URL has no host: {url!r}", permanent=True)
    return parsed


def _follow(
    client: httpx.Client, target: httpx.URL, allow: Allowlist
) -> tuple[httpx.URL, httpx.Response]:
    """Send GETs, following at most MAX_REDIRECTS redirects, each one re-checked.

    Returns the final URL (as the user would see it, with its host name) and
    the response, not yet read.
    """
    import httpx

    for _ in range(MAX_REDIRECTS + 1):
        response = _send(client, target, allow)
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return target, response
        response.close()
        try:
            target = parse_url(str(target.join(location)))
        except httpx.InvalidURL as exc:
            raise FetchFailed(f"{target}: bad redirect to {location!r}", permanent=True) from exc
    raise FetchFailed(f"{target}: more than {MAX_REDIRECTS} redirects", permanent=True)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow: Allowlist,
    timeout: float,
    verify: ssl.SSLContext | None = None,
) -> int:
    """POST `body` to `url` through the same guard; the response's status.

    Redirects are not followed (the status is returned as it came) and the
    response body is not read. Raises FetchRefused, or FetchFailed for bad
    URLs and network errors (`permanent` as for `fetch`).
    """
    return request("POST", url, body, headers, allow=allow, timeout=timeout, verify=verify)


def request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    allow: Allowlist,
    timeout: float,
    verify: ssl.SSLContext | None = None,
) -> int:
    """Any method, as `post`: through the guard, no redirects, the status only."""
    target = parse_url(url)
    with _client(timeout, verify) as client:
        response = _send(client, target, allow, method.upper(), body, headers)
        response.close()
        return response.status_code


def _send(
    client: httpx.Client,
    target: httpx.URL,
    allow: Allowlist,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to `target`, connected to the address `resolve` checked."""
    host = target.raw_host.decode("ascii")
    ip = resolve(host, target.port or (443 if target.scheme == "https" else 80), allow)
    extensions = {} if _is_ip_literal(host) else {"sni_hostname": host}
    request = client.build_request(
        method,
        target.copy_with(host=str(ip)),
        headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
        content=content,
        extensions=extensions,
    )
    with _translated_errors(str(target)):
        return client.send(request, stream=True)


def _check_response(url: str, response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if not 200 <= status < 300:
        transient = status >= 500 or status in (408, 429)
        phrase = f"{status} {response.reason_phrase}".strip()
        raise FetchFailed(f"{url}: the server responded {phrase}", permanent=not transient)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchFailed(_too_large(url, max_bytes), permanent=True)


@contextmanager
def _translated_errors(url: str) -> Iterator[None]:
    """httpx's exceptions as FetchFailed: timeouts and network errors are transient."""
    import httpx

    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"{url}: timed out", permanent=False) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise FetchFailed(f"{url}: {exc}", permanent=True) from exc
    except httpx.TransportError as exc:
        permanent = _caused_by(exc, ssl.SSLCertVerificationError)
        raise FetchFailed(f"{url}: {exc or type(exc).__name__}", permanent=permanent) from exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is somewhere in the chain of exceptions that led to `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _too_large(url: str, max_bytes: int) -> str:
    return f"{url}: the body is larger than {max_bytes} bytes"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
