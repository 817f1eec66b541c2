"""Whether a delivery may go out, checked right before each send (and at accept time).

A reason to skip, or None. In order:
- the person is gone (deleted, or suppressed, which deletes them);
- one of the person's identifiers, or the recipient address, is suppressed;
- the person is unsubscribed (`unsubscribed` attribute) and the send did not
  ask for `send_to_unsubscribed`;
- the message is in a subscription topic (its `subscription_topic_id`) and the
  person is not in it (`subscriptions/preferences.py`: opted out, never opted
  into an opt-in topic, or globally unsubscribed, whatever `send_to_unsubscribed` says);
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
from tidings.people.identifiers import Identifier
from tidings.people.store import by_pk, is_suppressed
from tidings.providers import addresses
from tidings.subscriptions import preferences, topics
from tidings.subscriptions.topics import Topic

# Why a delivery is skipped when an identifier is suppressed; also the reason a send
# to a suppressed identifier is recorded with at accept time (`transactional`).
SUPPRESSED = "the person is suppressed"

# (workspace id, person id, recipient, send_to_unsubscribed, subscription topic id)
Check = tuple[int, int | None, str, bool, int | None]

_PERSON = (
    "SELECT p.workspace_id, p.customer_id, p.email, a.value, a.kind FROM people p"
    " LEFT JOIN attributes a ON a.person_id = p.id AND a.name = 'unsubscribed'"
    " WHERE p.id = {0}"
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
    topic_id: int | None = None,
) -> str | None:
    found = raw.select_in(conn, _PERSON, [person_id], []) if person_id is not None else []
    if not found or found[0][0] != workspace_id:
        return "the person no longer exists"
    _, customer_id, email, unsubscribed, kind = found[0]
    address = _address(recipient)
    if is_suppressed(conn, workspace_id, _identifiers(customer_id, email, address)):
        return SUPPRESSED
    if not send_to_unsubscribed and _truthy(unsubscribed, kind):
        return "the person is unsubscribed"
    if topic_id is not None and person_id is not None:
        reason = _topic_reason(conn, workspace_id, person_id, topic_id)
        if reason is not None:
            return reason
    blocked = blocked_reason(conn, workspace_id, address)
    if blocked is not None:
        return f"the address {address} is blocked ({blocked})"
    return None


def _topic_reason(conn: Connection, workspace_id: int, person_pk: int, topic_id: int) -> str | None:
    """Why a message in `topic_id` may not reach the person (`preferences.subscribed`;
    an undeclared topic counts as opt-out). Read only for messages in a topic."""
    person = by_pk(conn, person_pk)
    if person is None:
        return "the person no longer exists"
    stored, unsubscribed = preferences.of_person(conn, person)
    if unsubscribed:
        return "the person is unsubscribed"
    topic = topics.topic(conn, workspace_id, topic_id) or Topic(topic_id, "", "", True)
    if not preferences.subscribed(stored, topic, False):
        return f"the person is not subscribed to topic {topic_id}"
    return None


def _identifiers(customer_id: str | None, email: str | None, address: str) -> list[Identifier]:
    """The person's id and email, and the recipient address when it is an email."""
    emails = {email.lower()} if email else set()
    if "@" in address:
        emails.add(address)
    found = [] if customer_id is None else [Identifier("id", customer_id)]
    return found + [Identifier("email", e) for e in emails]


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
