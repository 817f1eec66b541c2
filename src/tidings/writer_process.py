"""The entry point of SQLite's writer process (`python -m tidings.writer_process`).

The process runs the use cases the server processes send it, so it is wired
like them (`wiring.wire`) and loads every use case before its first request;
the rest is `db/writer_service.py` (whose `spawn` starts it).
"""

from __future__ import annotations

from tidings.db.writer_service import serve_writer
from tidings.ops.heap import limit_malloc_arenas
from tidings.runtime import wiring


def main() -> None:
    limit_malloc_arenas()
    wiring.wire()
    import tidings.app  # noqa: F401, PLC0415  # every use case loaded before the first request

    serve_writer(prog=f"python -m {__name__}")


if __name__ == "__main__":
    main()
