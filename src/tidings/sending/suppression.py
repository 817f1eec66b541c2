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

Checked for a claim's deliveries together, in one read transaction
(`reasons_to_skip`), with three driver-level statements each (`db/raw.py`):
this runs for every delivery.
"""

from __future__ import annotations

from sqlalchemy import Connection

from tidings.attributes import is_truthy_flag, restore
from tidings.db import raw
from tidings.providers import addresses

# (workspace id, person id, recipient, send_to_unsubscribed)
Check = tuple[int, int | None, str, bool]

_PERSON = (
    "SELECT p.workspace_id, p.customer_id, p.email, a.value, a.kind FROM people p"
    " LEFT JOIN attributes a ON a.person_id = p.id AND a.name = 'unsubscribed'"
    " WHERE p.id = {0}"
)
_SUPPRESSED = (
    "SELECT 1 FROM suppressions WHERE workspace_id = {0}"
    " AND ((kind = 'id' AND value = {1}) OR (kind = 'email' AND value IN ({2}, {3})))"
)
_BLOCKED = "SELECT reason FROM blocked_addresses WHERE workspace_id = {0} AND address = {1}"


def reasons_to_skip(conn: Connection, checks: list[Check]) -> list[str | None]:
    """`reason_to_skip` for each check, in order."""
    return [reason_to_skip(conn, *check) for check in checks]


def reason_to_skip(
    conn: Connection,
    workspace_id: int,
    person_id: int | None,
    recipient: str,
    send_to_unsubscribed: bool,
) -> str | None:
    found = raw.select_in(conn, _PERSON, [person_id], []) if person_id is not None else []
    if not found or found[0][0] != workspace_id:
        return "the person no longer exists"
    _, customer_id, email, unsubscribed, kind = found[0]
    address = _address(recipient)
    emails = [email.lower() if email else None, address if "@" in address else None]
    if raw.select_in(conn, _SUPPRESSED, [workspace_id, customer_id, *emails], []):
        return "the person is suppressed"
    if not send_to_unsubscribed and _truthy(unsubscribed, kind):
        return "the person is unsubscribed"
    blocked = blocked_reason(conn, workspace_id, address)
    if blocked is not None:
        return f"the address {address} is blocked ({blocked})"
    return None


def _truthy(value: str | None, kind: str | None) -> bool:
    return value is not None and kind is not None and is_truthy_flag(restore(value, kind))


def _address(recipient: str) -> str:
    """`Name <a@b.c>` -> `a@b.c`; phone numbers and tokens as they are; lower-cased."""
    if "@" in recipient:
        return addresses.parse(recipient)[1].strip().lower()
    return recipient.strip().lower()


def blocked_reason(conn: Connection, workspace_id: int, address: str) -> str | None:
    if not address:
        return None
    found = raw.select_in(conn, _BLOCKED, [workspace_id, address], [])
    return str(found[0][0]) if found else None
