"""Diagnostic: the real Tidings app with its database writes replaced by a no-op.

Everything a single-event request does before the write (HTTP parsing in
uvicorn, routing, authentication, JSON decoding and validation, the response,
metrics and the access log line) runs as in `tidings serve`; the writer's
`submit` and `submit_many` return at once instead of queueing the use case for
the group-commit writer.
Its throughput is the ceiling the write path cannot raise: the share of the
bare app's rate lost here is spent in the app layer, not in SQLite.

    .venv/bin/python bench/nowrite.py --data-dir DIR --port 8082
(DIR must hold a store with a workspace, as `tidings workspace create` makes.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare import UVICORN_OPTIONS  # noqa: E402


async def _skip_write(fn: Any, *args: Any) -> None:
    return None


def main() -> None:
    import uvicorn

    from tidings.app import create_app
    from tidings.config import Settings, database_url_for
    from tidings.ops.logging import configure

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    configure("INFO")  # as `tidings serve` with its default --log-level info
    url = database_url_for(args.data_dir, None)
    app = create_app(Settings(database_url=url, host=args.host, port=args.port))
    app.writer.submit = _skip_write  # type: ignore[method-assign]
    app.writer.submit_many = _skip_write  # type: ignore[method-assign]
    uvicorn.run(app, host=args.host, port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
