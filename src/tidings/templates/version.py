"""Each workspace's `resources_version`: changed by every change to what its messages
are built from, read by every send that uses the process's copy of them
(`templates/cache.py`).

`bump` runs in the changing transaction, so the new value commits (or rolls
back) with the change itself. The value is random, not counted: a value a
transaction made and then rolled back, which a cache may have seen inside
that transaction, is never made again by a later change (a counter would
reach the same number with other contents).
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection

from tidings.db import raw

_BUMP = "UPDATE workspaces SET resources_version = {0} WHERE id = {1}"


def bump(conn: Connection, workspace_id: int) -> None:
    """Mark the workspace's templates, contents, layouts, snippets or sender identities
    changed, in the caller's transaction."""
    raw.select_in(conn, _BUMP, [secrets.randbits(62), workspace_id], [])
