"""Workspaces and their keys.

Keys are random, shown once at creation, and stored only as SHA-256 digests
(they are high-entropy, so a plain digest is enough). Comparisons use
`hmac.compare_digest` so a wrong key takes as long to refuse as a right one
takes to accept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from sqlalchemy import Connection, func, insert, select, update

from tidings.db.schema import workspaces
from tidings.errors import ApiError, not_found


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str
    site_id: str


@dataclass(frozen=True)
class Credentials:
    workspace_id: int
    name: str
    site_id: str
    track_api_key: str
    app_api_key: str
    cdp_write_key: str

    def public(self) -> dict[str, object]:
        return {
            "workspace_id": self.workspace_id,
            "name": self.name,
            "site_id": self.site_id,
            "track_api_key": self.track_api_key,
            "app_api_key": self.app_api_key,
            "cdp_write_key": self.cdp_write_key,
        }


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyKind(NamedTuple):
    """A kind of key: the column of its hash, its name in `Credentials`, how one is made."""

    column: str
    name: str
    make: Callable[[], str]


KEY_KINDS = {
    "track": KeyKind("track_key_hash", "track_api_key", lambda: secrets.token_hex(10)),
    "app": KeyKind("app_key_hash", "app_api_key", lambda: secrets.token_hex(20)),
    "cdp": KeyKind("cdp_key_hash", "cdp_write_key", lambda: secrets.token_urlsafe(24)),
}


def create_workspace(
    conn: Connection,
    name: str,
    now: float,
    *,
    site_id: str | None = None,
    track_api_key: str | None = None,
    app_api_key: str | None = None,
    cdp_write_key: str | None = None,
) -> Credentials:
    """Create a workspace, generating every key not given."""
    creds = Credentials(
        workspace_id=0,
        name=name,
        site_id=site_id or secrets.token_hex(10),
        track_api_key=track_api_key or KEY_KINDS["track"].make(),
        app_api_key=app_api_key or KEY_KINDS["app"].make(),
        cdp_write_key=cdp_write_key or KEY_KINDS["cdp"].make(),
    )
    _refuse_taken(conn, creds)
    result = conn.execute(
        insert(workspaces).values(
            name=name,
            site_id=creds.site_id,
            track_key_hash=digest(creds.track_api_key),
            app_key_hash=digest(creds.app_api_key),
            cdp_key_hash=digest(creds.cdp_write_key),
            created_at=int(now),
        )
    )
    (workspace_id,) = result.inserted_primary_key
    return replace(creds, workspace_id=workspace_id)


def _refuse_taken(conn: Connection, creds: Credentials) -> None:
    taken = conn.execute(
        select(workspaces.c.id).where(
            (workspaces.c.site_id == creds.site_id)
            | (workspaces.c.app_key_hash == digest(creds.app_api_key))
            | (workspaces.c.cdp_key_hash == digest(creds.cdp_write_key))
        )
    ).first()
    if taken is not None:
        raise ApiError(409, "a workspace already uses that site id or key", code="conflict")


def rotate_keys(conn: Connection, workspace_id: int, kinds: list[str]) -> dict[str, str]:
    """Replace the workspace's keys of these kinds with new random ones; the new keys,
    by their names in `Credentials`, to be shown once.

    The old keys stop matching as soon as this commits. A running server
    keeps a successful lookup for `api.auth.CACHE_SECONDS`: the web UI's
    rotation drops its own process's entries (`Authenticator.forget`); other
    processes may accept an old key for that long after.
    """
    chosen = [KEY_KINDS[kind] for kind in kinds]
    new = {key.name: key.make() for key in chosen}
    hashes = {key.column: digest(new[key.name]) for key in chosen}
    found = conn.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(**hashes)
    ).rowcount
    if found != 1:
        raise not_found(f"no workspace {workspace_id}")
    return new


FINGERPRINT = 12  # hex digits of a key's digest that name it in a rotation form


def key_fingerprints(conn: Connection, workspace_id: int) -> dict[str, str]:
    """Each kind of key's fingerprint: the start of its digest (48 bits of a SHA-256 of
    a random key: it names the key without helping anyone find it)."""
    columns = [workspaces.c[kind.column] for kind in KEY_KINDS.values()]
    row = conn.execute(select(*columns).where(workspaces.c.id == workspace_id)).first()
    if row is None:
        raise not_found(f"no workspace {workspace_id}")
    return {kind: str(value)[:FINGERPRINT] for kind, value in zip(KEY_KINDS, row, strict=True)}


def rotate_key_once(conn: Connection, workspace_id: int, kind: str, fingerprint: str) -> str:
    """Replace the key of `kind` if it is still the one `fingerprint` names; the new
    key. A 409 when it was replaced since (a form sent twice, two admins at once), so
    one form rotates a key at most once."""
    key = KEY_KINDS[kind]
    column = workspaces.c[key.column]
    new = key.make()
    changed = conn.execute(
        update(workspaces)
        .where(
            workspaces.c.id == workspace_id,
            func.substr(column, 1, FINGERPRINT) == fingerprint[:FINGERPRINT],
        )
        .values({key.column: digest(new)})
    ).rowcount
    if changed != 1:
        raise ApiError(409, "that key was rotated already", code="conflict")
    return new


def list_workspaces(conn: Connection) -> list[Workspace]:
    rows = conn.execute(
        select(workspaces.c.id, workspaces.c.name, workspaces.c.site_id).order_by(workspaces.c.id)
    )
    return [Workspace(*row) for row in rows]


def count_workspaces(conn: Connection) -> int:
    return len(conn.execute(select(workspaces.c.id)).all())


def by_track_credentials(conn: Connection, site_id: str, api_key: str) -> Workspace | None:
    row = conn.execute(
        select(
            workspaces.c.id, workspaces.c.name, workspaces.c.site_id, workspaces.c.track_key_hash
        ).where(workspaces.c.site_id == site_id)
    ).first()
    if row is None or not hmac.compare_digest(row.track_key_hash, digest(api_key)):
        return None
    return Workspace(row.id, row.name, row.site_id)


def by_app_key(conn: Connection, key: str) -> Workspace | None:
    return _by_hash(conn, workspaces.c.app_key_hash, digest(key))


def by_cdp_key(conn: Connection, key: str) -> Workspace | None:
    return _by_hash(conn, workspaces.c.cdp_key_hash, digest(key))


def _by_hash(conn: Connection, column, hashed: str) -> Workspace | None:  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(workspaces.c.id, workspaces.c.name, workspaces.c.site_id, column).where(
            column == hashed
        )
    ).first()
    if row is None or not hmac.compare_digest(row[3], hashed):
        return None
    return Workspace(row.id, row.name, row.site_id)
