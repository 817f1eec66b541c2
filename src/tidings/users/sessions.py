"""Sessions of the web UI: random ids stored hashed, with idle and absolute expiry.

The browser holds a random id (`new_secret`, 256 bits); the table holds only
its SHA-256 (`id_hash`), so a copy of the database signs nobody in. A session
ends `IDLE_SECONDS` after its last use or `ABSOLUTE_SECONDS` after it began,
whichever comes first (`alive`, pure); a read that finds it older is answered
as no session at all. Its last use is written at most once a minute
(`TOUCH_EVERY`), so browsing costs a write a minute, not one per request.

Each login makes a new id (rotation: an id planted in a browser before the
login is worth nothing after it) and deletes the session the browser held
before; logout deletes the row. Ids and CSRF tokens are made by the caller
and passed in, so a use case run twice by the writer stays the same use case.
Times are the injected clock's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.sql.elements import ColumnElement

from tidings import audit
from tidings.db.schema import ui_sessions, user_roles, users
from tidings.errors import ApiError
from tidings.users import throttle
from tidings.users.accounts import Grant, grants_of, rehash

IDLE_SECONDS = 60 * 60
ABSOLUTE_SECONDS = 12 * 60 * 60
TOUCH_EVERY = 60


@dataclass(frozen=True)
class Session:
    """A live session: who, in which workspace (with their role there: None once it
    was taken away), its CSRF token, and when it began and was last used."""

    id_hash: str
    user_id: int
    email: str
    workspace_id: int
    role: str | None
    csrf_token: str
    created_at: int
    seen_at: int


def new_secret() -> str:
    """A random session id or CSRF token: 32 bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def alive(created_at: int, seen_at: int, now: int) -> bool:
    """Whether a session begun at `created_at` and last used at `seen_at` still holds."""
    return now < seen_at + IDLE_SECONDS and now < created_at + ABSOLUTE_SECONDS


def log_in(
    conn: Connection,
    user_id: int,
    email: str,
    id_hash: str,
    csrf_token: str,
    now: int,
    replaces: str | None = None,
    rehashed: tuple[str, str] | None = None,
) -> int:
    """Begin a session for a user whose password was checked, in their first workspace;
    end the session it replaces; forget the email's failed logins; audit. `rehashed`,
    `(checked_hash, fresh_hash)` when the checked hash was made with older parameters:
    the fresh one is stored in the same transaction (`accounts.rehash`). The
    workspace id; a 403 for a user with no workspace to open."""
    grants = grants_of(conn, user_id)
    if not grants:
        raise ApiError(403, "this user has no role in any workspace", code="forbidden")
    if replaces is not None:
        conn.execute(delete(ui_sessions).where(ui_sessions.c.id_hash == replaces))
    workspace_id = grants[0].workspace_id
    conn.execute(
        ui_sessions.insert().values(
            id_hash=id_hash,
            user_id=user_id,
            workspace_id=workspace_id,
            csrf_token=csrf_token,
            created_at=now,
            seen_at=now,
        )
    )
    throttle.clear(conn, throttle.email_key(email))
    details: dict[str, object] = {}
    if rehashed is not None and rehash(conn, user_id, *rehashed):
        details["rehashed"] = True
    entry = audit.Entry("user.login", "user", str(user_id), None, user_id, details)
    audit.record(conn, entry, now)
    return workspace_id


def find(conn: Connection, id_hash: str, now: int) -> Session | None:
    """The live session with this id hash, or None (unknown, expired)."""
    row = conn.execute(
        select(
            ui_sessions.c.id_hash,
            ui_sessions.c.user_id,
            users.c.email,
            ui_sessions.c.workspace_id,
            user_roles.c.role,
            ui_sessions.c.csrf_token,
            ui_sessions.c.created_at,
            ui_sessions.c.seen_at,
        )
        .join(users, users.c.id == ui_sessions.c.user_id)
        .outerjoin(
            user_roles,
            (user_roles.c.user_id == ui_sessions.c.user_id)
            & (user_roles.c.workspace_id == ui_sessions.c.workspace_id),
        )
        .where(ui_sessions.c.id_hash == id_hash)
    ).first()
    if row is None or not alive(row.created_at, row.seen_at, now):
        return None
    return Session(*row)


def touch(conn: Connection, id_hash: str, now: int) -> None:
    """Mark the session used now (callers do so once `TOUCH_EVERY` has passed)."""
    conn.execute(update(ui_sessions).where(ui_sessions.c.id_hash == id_hash).values(seen_at=now))


def log_out(conn: Connection, id_hash: str, user_id: int, now: int) -> None:
    """End the session; audited."""
    conn.execute(delete(ui_sessions).where(ui_sessions.c.id_hash == id_hash))
    audit.record(conn, audit.Entry("user.logout", "user", str(user_id), None, user_id), now)


def switch_workspace(
    conn: Connection, id_hash: str, user_id: int, workspace_id: int, now: int
) -> None:
    """Point the session at another workspace; a 403 unless the user has a role there."""
    if workspace_id not in {grant.workspace_id for grant in grants_of(conn, user_id)}:
        raise ApiError(403, "you have no role in that workspace", code="forbidden")
    conn.execute(
        update(ui_sessions)
        .where(ui_sessions.c.id_hash == id_hash, ui_sessions.c.user_id == user_id)
        .values(workspace_id=workspace_id, seen_at=now)
    )


def expired(now: int) -> ColumnElement[bool]:
    """Sessions past either expiry, as SQL (what housekeeping deletes): `alive`'s rule."""
    return (ui_sessions.c.seen_at <= now - IDLE_SECONDS) | (
        ui_sessions.c.created_at <= now - ABSOLUTE_SECONDS
    )


def signed_in(conn: Connection, id_hash: str, now: int) -> tuple[Session, list[Grant]] | None:
    """The live session and the workspaces its user may open, in one read; None when
    there is no live session."""
    session = find(conn, id_hash, now)
    if session is None:
        return None
    return session, grants_of(conn, session.user_id)
