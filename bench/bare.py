"""The baseline: a bare ASGI app that reads the request body and answers `200 {}`.

It runs under exactly the server settings `tidings serve` uses (uvicorn with
httptools and uvloop, one process, no access log), so the difference between
this and Tidings is the cost of Tidings itself, not of the HTTP server.

    .venv/bin/python bench/bare.py --port 8081
"""

from __future__ import annotations

import argparse
from typing import Any

# The keyword arguments `tidings serve` gives uvicorn (src/tidings/server.py), minus TLS.
UVICORN_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "lifespan": "on",
    "log_level": "warning",
    "timeout_graceful_shutdown": 30,
    "ws": "none",
    "http": "httptools",
    "proxy_headers": False,
    "loop": "uvloop",
}

HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
START = {"type": "http.response.start", "status": 200, "headers": HEADERS}
BODY = {"type": "http.response.body", "body": b"{}"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # Read the whole body, as any real handler must.
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(START)
    await send(BODY)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
