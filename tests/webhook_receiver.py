"""A local HTTP endpoint for reporting webhooks: records each POST and answers
the statuses it is told to, in turn (then 200).

    with receive() as hook:
        hook.statuses = [500]          # the first post fails, later ones succeed
        ... hook.url ..., hook.posts   # [(headers, body bytes), ...]

`verify(post, key)` checks a post's signature the way Customer.io's reference
tells receivers to: HMAC-SHA256, keyed with the signing key, of
`v0:<X-CIO-Timestamp>:<body>`, compared with `X-CIO-Signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)  # every request, failed ones too
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Post]:
        """The posts answered 2xx, in the order they came."""
        with self.lock:
            return [p for p in self.posts if p.headers.get("x-test-status", "200") == "200"]


def verify(post: Post, signing_key: str) -> bool:
    timestamp = post.headers["x-cio-timestamp"]
    message = b"v0:" + timestamp.encode() + b":" + post.body
    expected = hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, post.headers["x-cio-signature"])


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                headers["x-test-status"] = str(status)
                receiver.posts.append(Post(headers, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_PATCH = do_POST  # campaign webhook actions choose their method

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def receive(path: str = "/hook") -> Iterator[Receiver]:
    receiver = Receiver()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    httpd.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
