"""Hot-path statements handed to the driver directly.

SQLAlchemy Core costs tens of microseconds per execution in statement
preparation (cache keys, expanding IN parameters); on the ingest path that is
more than SQLite spends running the statement. These helpers build the SQL
text once per shape and pass plain tuples to the driver.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection


@functools.lru_cache(maxsize=256)
def _sql(template: str, paramstyle: str, fixed: int, listed: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return template.format(*([mark] * fixed), ", ".join([mark] * listed))


def select_in(
    conn: Connection, template: str, fixed: Sequence[Any], listed: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Run `template` with `{0}`.. `{n-1}` for the fixed parameters and `{n}` for an IN list.

    Example: `select_in(conn, "SELECT id FROM people WHERE workspace_id = {0}
    AND customer_id IN ({1})", [ws], keys)`. Callers keep lists within the
    backends' parameter limits.
    """
    sql = _sql(template, conn.dialect.paramstyle, len(fixed), len(listed))
    return [tuple(row) for row in conn.exec_driver_sql(sql, (*fixed, *listed))]
