"""Sender identities: the addresses a workspace's email may come from.

The rule (Customer.io answers 400 for an unverified sender): a workspace with
no sender identities accepts any `from`, so a new self-hosted workspace can
send at once; as soon as it has one, a send's `from` address must be one of
them (compared case-insensitively, display names ignored). Identities are
created by `POST /v1/sender_identities`, `tidings apply` or the web UI's Settings
page (which also renames and deletes them); Tidings does not
verify domains, that is the operator's SMTP provider's business.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from tidings import numbers, paging
from tidings.db import raw
from tidings.db.schema import sender_identities as senders
from tidings.errors import ApiError, bad_request, not_found
from tidings.providers import addresses
from tidings.templates import version

MAX_NAME_CHARS = 255
PAGE_DEFAULT = 50
PAGE_MAX = 1000


def parse_id(raw: str) -> int:
    return numbers.path_id(raw, "sender identity")


def parse(body: Any) -> tuple[str, str]:
    """`{"email", "name"?}` -> (name, lower-cased address)."""
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    raw = body.get("email")
    if not isinstance(raw, str):
        raise bad_request("email is required", "email")
    shown, address = parseaddr(raw)
    if "@" not in address or len(address) > MAX_NAME_CHARS:
        raise bad_request("email must be an email address", "email")
    name = body.get("name", shown or "")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name must be a string of at most {MAX_NAME_CHARS} characters", "name")
    return name, address.lower()


def sender_json(row: Any) -> dict[str, Any]:
    address = row.email
    return {
        "id": row.id,
        "name": row.name,
        "email": address,
        "address": f"{row.name} <{address}>" if row.name else address,
        "template_type": "email",
        "auto_generated": False,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def create(conn: Connection, workspace_id: int, name: str, email: str, now: int) -> dict[str, Any]:
    if _by_email(conn, workspace_id, email) is not None:
        raise ApiError(409, f"sender identity {email} exists", code="conflict", field="email")
    version.bump(conn, workspace_id)
    new_id = conn.execute(
        insert(senders).values(
            workspace_id=workspace_id, name=name, email=email, created_at=now, updated_at=now
        )
    ).inserted_primary_key[0]
    return get(conn, workspace_id, int(new_id))


def upsert(conn: Connection, workspace_id: int, name: str, email: str, now: int) -> str:
    """Create or rename the identity for `email`; "create", "update" or "same"."""
    found = _by_email(conn, workspace_id, email)
    if found is None:
        create(conn, workspace_id, name, email, now)
        return "create"
    if found.name == name:
        return "same"
    conn.execute(update(senders).where(senders.c.id == found.id).values(name=name, updated_at=now))
    version.bump(conn, workspace_id)
    return "update"


def change(
    conn: Connection, workspace_id: int, sender_id: int, name: str, email: str, now: int
) -> dict[str, Any]:
    """Give the identity a new name and address (as `parse` reads them); a 404 for no
    such identity, a 409 when another identity has the address."""
    current = get(conn, workspace_id, sender_id)
    other = _by_email(conn, workspace_id, email)
    if other is not None and other.id != sender_id:
        raise ApiError(409, f"sender identity {email} exists", code="conflict", field="email")
    if (current["name"], current["email"]) == (name, email):
        return current
    conn.execute(
        update(senders)
        .where(senders.c.workspace_id == workspace_id, senders.c.id == sender_id)
        .values(name=name, email=email, updated_at=now)
    )
    version.bump(conn, workspace_id)
    return get(conn, workspace_id, sender_id)


def get(conn: Connection, workspace_id: int, sender_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(senders).where(senders.c.workspace_id == workspace_id, senders.c.id == sender_id)
    ).first()
    if row is None:
        raise not_found("sender identity not found")
    return sender_json(row)


QUERY = (*paging.QUERY, "sort")  # what `page` reads


def page(conn: Connection, workspace_id: int, query: dict[str, str]) -> dict[str, Any]:
    """`{"sender_identities": [...], "next": cursor}` in id order (`sort=desc` reverses)."""
    request = paging.parse_page(query, default=PAGE_DEFAULT, maximum=PAGE_MAX)
    descending = query.get("sort", "asc") == "desc"
    stmt = select(senders).where(senders.c.workspace_id == workspace_id)
    if request.after is not None:
        after = request.after[0]
        stmt = stmt.where(senders.c.id < after if descending else senders.c.id > after)
    order = senders.c.id.desc() if descending else senders.c.id
    rows = conn.execute(stmt.order_by(order).limit(request.limit + 1)).all()
    shown, cursor = paging.cut(rows, request.limit, lambda row: (row.id,))
    return {"sender_identities": [sender_json(row) for row in shown], "next": cursor}


def remove(conn: Connection, workspace_id: int, sender_id: int) -> None:
    gone = conn.execute(
        delete(senders).where(senders.c.workspace_id == workspace_id, senders.c.id == sender_id)
    )
    if not gone.rowcount:
        raise not_found("sender identity not found")
    version.bump(conn, workspace_id)


def address_of(conn: Connection, workspace_id: int, sender_id: int) -> str | None:
    """The identity's address as a `from` or `reply_to` holds it (`Name <email>`, or the
    bare address without a name); None when the workspace has no such identity."""
    found = conn.execute(
        select(senders.c.name, senders.c.email).where(
            senders.c.workspace_id == workspace_id, senders.c.id == sender_id
        )
    ).first()
    if found is None:
        return None
    return formataddr((found.name, found.email)) if found.name else str(found.email)


def oldest_id(conn: Connection, workspace_id: int) -> int | None:
    """The workspace's first sender identity (Customer.io's default sender), if any."""
    query = select(senders.c.id).where(senders.c.workspace_id == workspace_id)
    found = conn.execute(query.order_by(senders.c.id).limit(1)).scalar()
    return None if found is None else int(found)


def sender_identity_for(conn: Connection, workspace_id: int, address: str) -> dict[str, Any] | None:
    """The identity a `from` may use, or None when it may not.

    With no identities configured every address is allowed: the answer is then
    a stand-in `{"id": None, "email": <address>, "name": <display name>}`.
    """
    shown, email = parseaddr(address)
    row = _by_email(conn, workspace_id, email.lower()) if "@" in email else None
    if row is not None:
        return sender_json(row)
    if "@" not in email or _configured(conn, workspace_id):
        return None
    return {"id": None, "email": email.lower(), "name": shown}


def sender_name_for(conn: Connection, workspace_id: int, address: str) -> str | None:
    """The display name of the identity a `from` may use ("" for none); None when it
    may not use any. `sender_identity_for` in one driver statement, for every send."""
    shown, email = addresses.parse(address)
    if "@" not in email:
        return None
    found = raw.select_in(conn, _NAME_FOR, [workspace_id, email.lower(), workspace_id], [])
    name, configured = found[0]
    if name is not None:
        return str(name)
    return None if configured else shown


_NAME_FOR = (
    "SELECT (SELECT name FROM sender_identities WHERE workspace_id = {0} AND email = {1}),"
    " EXISTS (SELECT 1 FROM sender_identities WHERE workspace_id = {2})"
)


def _configured(conn: Connection, workspace_id: int) -> bool:
    return bool(
        conn.execute(select(exists().where(senders.c.workspace_id == workspace_id))).scalar()
    )


def _by_email(conn: Connection, workspace_id: int, email: str) -> Any:
    return conn.execute(
        select(senders).where(senders.c.workspace_id == workspace_id, senders.c.email == email)
    ).first()
