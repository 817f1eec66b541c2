"""What the HTTP adapters (Twilio, FCM, APNs, the HTTP email APIs) share: the client and
failure wording."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.providers.base import Transient
from tidings.providers.options import tls_context

if TYPE_CHECKING:  # imported when a client is made: a process that sends nothing needs none
    import httpx


def client(timeout: float, verify: bool | str, *, http2: bool = False) -> httpx.AsyncClient:
    """A pooled client: connections (HTTP/2 streams for APNs) are reused across sends."""
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), verify=tls_context(verify), http2=http2
    )


def unreachable(provider: str, exc: httpx.HTTPError) -> Transient:
    """Timeouts, refused and dropped connections: try again later."""
    detail = str(exc) or type(exc).__name__
    return Transient(f"{provider} unreachable: {type(exc).__name__}: {detail}")


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when the body is not one (a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def check_base_url(kind: str, url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{kind} provider config: base_url must be an http(s) URL")
    return url.rstrip("/")


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, objects merged key by key (how custom payloads override ours)."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result
