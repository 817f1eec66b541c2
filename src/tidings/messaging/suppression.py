"""Whether a delivery may go out, checked right before each send (and at accept time).

A reason to skip, or None. In order:
- the person is gone (deleted, or suppressed, which deletes them);
- one of the person's identifiers, or the recipient address, is suppressed;
- the person is unsubscribed (`unsubscribed` attribute) and the send did not
  ask for `send_to_unsubscribed`;
- the recipient address hard-bounced or complained (`blocked_addresses`).

Only the delivery's recipient (the person's own address or number: the first
`to` of an email) is checked against suppressions and blocked addresses; cc
and bcc copies follow it.
"""

from __future__ import annotations

from email.utils import parseaddr

from sqlalchemy import Connection, select

from tidings.db.schema import attributes, blocked_addresses
from tidings.people import store
from tidings.people.attributes import is_truthy_flag, restore
from tidings.people.identifiers import Identifier


def reason_to_skip(
    conn: Connection,
    workspace_id: int,
    person_id: int | None,
    recipient: str,
    send_to_unsubscribed: bool,
) -> str | None:
    person = store.by_pk(conn, person_id) if person_id is not None else None
    if person is None or person.workspace_id != workspace_id:
        return "the person no longer exists"
    address = _address(recipient)
    idents = person.identifiers()
    if "@" in address:
        idents.append(Identifier("email", address))
    if store.is_suppressed(conn, workspace_id, idents):
        return "the person is suppressed"
    if not send_to_unsubscribed and _unsubscribed(conn, person.pk):
        return "the person is unsubscribed"
    blocked = blocked_reason(conn, workspace_id, address)
    if blocked is not None:
        return f"the address {address} is blocked ({blocked})"
    return None


def _address(recipient: str) -> str:
    """`Name <a@b.c>` -> `a@b.c`; phone numbers and tokens as they are; lower-cased."""
    if "@" in recipient:
        return parseaddr(recipient)[1].strip().lower()
    return recipient.strip().lower()


def _unsubscribed(conn: Connection, person_pk: int) -> bool:
    row = conn.execute(
        select(attributes.c.value, attributes.c.kind).where(
            attributes.c.person_id == person_pk, attributes.c.name == "unsubscribed"
        )
    ).first()
    return row is not None and is_truthy_flag(restore(row.value, row.kind))


def blocked_reason(conn: Connection, workspace_id: int, address: str) -> str | None:
    if not address:
        return None
    return conn.execute(
        select(blocked_addresses.c.reason).where(
            blocked_addresses.c.workspace_id == workspace_id,
            blocked_addresses.c.address == address,
        )
    ).scalar()
