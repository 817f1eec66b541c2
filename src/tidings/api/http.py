"""A small ASGI layer: requests and responses (`api.routing` matches the raw path).

Text holding a NUL character (`%00` in a path or query, `\\u0000` in JSON) is
refused with a 400 here, once: PostgreSQL cannot store NUL in text, so it
would otherwise fail deep inside a write, and SQLite would accept what
PostgreSQL refuses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from tidings.errors import ApiError

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]

# `\u0000` in JSON text, unless its backslash is itself escaped (`\\u0000`).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class Request:
    __slots__ = (
        "method",
        "path",
        "segments",
        "query_string",
        "headers",
        "body",
        "params",
        "workspace",
        "client",
        "scheme",
    )

    def __init__(self, scope: dict[str, Any], body: bytes) -> None:
        raw = scope.get("raw_path") or scope["path"].encode()
        self.method: str = scope["method"]
        self.path = raw.split(b"?", 1)[0].decode("latin-1")
        self.segments = self.path.split("/")[1:]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.body = body
        self.params: dict[str, str] = {}
        self.workspace: Any = None
        self.client = scope.get("client")
        self.scheme: str = scope.get("scheme", "http")

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.encode())
        return value.decode("latin-1") if value is not None else None

    @property
    def query(self) -> dict[str, str]:
        pairs = parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)
        for key, value in pairs:
            refuse_nul(key + value)
        return dict(pairs)

    def json(self, *, empty: Any = None) -> Any:
        """The decoded body; an empty body is `empty`, malformed JSON a 400."""
        if not self.body.strip():
            if empty is not None:
                return empty
            raise ApiError(400, "request body must be JSON", code="malformed_json")
        try:
            decoded = _decode(self.body)
        except msgspec.DecodeError as exc:
            raise self._not_json(exc) from exc
        except RecursionError as exc:  # msgspec's depth limit is not a DecodeError
            raise ApiError(400, "malformed JSON: nested too deeply", code="malformed_json") from exc
        except UnicodeDecodeError as exc:
            raise ApiError(400, "malformed JSON: not UTF-8", code="malformed_json") from exc
        if b"\\u0000" in self.body and _JSON_NUL.search(self.body):
            refuse_nul("\x00")
        return decoded

    def _not_json(self, exc: Exception) -> ApiError:
        """Why the body did not decode: the content type it was sent as, when that is
        not JSON (a form, say), else the JSON error. A JSON body sent under another
        content type still decodes: only a failure is blamed on the type."""
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and "json" not in content_type:
            message = (
                "the request body must be JSON (Content-Type: application/json);"
                f" this one was sent as {content_type[:100]}"
            )
            return ApiError(400, message, code="malformed_json")
        return ApiError(400, f"malformed JSON: {exc}", code="malformed_json")

    def json_object(self, *, required: bool = False) -> dict[str, Any]:
        """The body as a JSON object; an empty body is `{}` unless the route requires one."""
        body = self.json(empty=None if required else {})
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object", code="invalid_request")
        return body


@dataclass
class Response:
    status: int = 200
    body: bytes = b"{}"
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: list(JSON_HEADERS))
    # When set, the body is sent chunk by chunk from here instead of `body`.
    stream: AsyncIterator[bytes] | None = None


EMPTY = b"{}"


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(status, _encode(payload))


def ok() -> Response:
    return Response(200, EMPTY)


def text_response(text: str, status: int) -> Response:
    return Response(status, text.encode(), [(b"content-type", b"text/plain; charset=utf-8")])


def no_content() -> Response:
    return Response(204, b"", [])


def refuse_nul(text: str) -> None:
    if "\x00" in text:
        raise ApiError(400, "text cannot contain NUL (\\u0000) characters", code="invalid_request")
