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
(`reasons_to_skip`): three driver-level statements (`db/raw.py`) for the
whole claim, the people with their `unsubscribed` and topic choices, their
suppressed identifiers and the blocked recipients (and the declared topics,
once a workspace, when a message is in one), so a batch costs three round
trips on PostgreSQL, not three a delivery.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.attributes import is_truthy_flag, restore
from tidings.db import raw
from tidings.people.identifiers import Identifier
from tidings.providers import addresses
from tidings.subscriptions import preferences, topics
from tidings.subscriptions.topics import Topic

# Why a delivery is skipped when an identifier is suppressed; also the reason a send
# to a suppressed identifier is recorded with at accept time (`transactional`).
SUPPRESSED = "the person is suppressed"

# (workspace id, person id, recipient, send_to_unsubscribed, subscription topic id)
Check = tuple[int, int | None, str, bool, int | None]

_PEOPLE = (
    "SELECT p.id, p.workspace_id, p.customer_id, p.email, a.value, a.kind, s.value, s.kind"
    " FROM people p"
    " LEFT JOIN attributes a ON a.person_id = p.id AND a.name = 'unsubscribed'"
    " LEFT JOIN attributes s ON s.person_id = p.id AND s.name = 'cio_subscription_preferences'"
    " WHERE p.id IN ({0})"
)
_SUPPRESSED = (
    "SELECT kind, value FROM suppressions WHERE workspace_id = {0}"
    " AND kind IN ('id', 'email') AND value IN ({1})"
)
_BLOCKED = (
    "SELECT address, reason FROM blocked_addresses WHERE workspace_id = {0} AND address IN ({1})"
)
_CHUNK = 500  # rows of an IN list, within both backends' parameter limits


def reasons_to_skip(conn: Connection, checks: list[Check]) -> list[str | None]:
    """Why each check's delivery is skipped, in order (None: send it)."""
    person_ids = sorted({check[1] for check in checks if check[1] is not None})
    people = {
        row[0]: row[1:]
        for ids in _chunks(person_ids)
        for row in raw.select_in(conn, _PEOPLE, [], ids)
    }
    # Each check's person row, identifiers and recipient address (None: the person is gone).
    recipients: list[tuple[tuple[Any, ...], list[Identifier], str] | None] = []
    for workspace_id, person_id, recipient, *_ in checks:
        person = people.get(person_id) if person_id is not None else None
        if person is None or person[0] != workspace_id:
            recipients.append(None)
            continue
        address = _address(recipient)
        recipients.append((person, _identifiers(person[1], person[2], address), address))
    suppressed, blocked = _lookups(conn, checks, recipients)
    declared = {
        workspace_id: {topic.key: topic for topic in topics.topics(conn, workspace_id)}
        for workspace_id in {check[0] for check in checks if check[4] is not None}
    }
    return [
        _reason(check, seen, suppressed, blocked, declared)
        for check, seen in zip(checks, recipients, strict=True)
    ]


def _lookups(
    conn: Connection,
    checks: list[Check],
    recipients: list[tuple[tuple[Any, ...], list[Identifier], str] | None],
) -> tuple[set[tuple[int, str, str]], dict[tuple[int, str], str]]:
    """The suppressed (workspace, kind, value) and blocked (workspace, address) among them."""
    values: dict[int, set[str]] = {}
    addresses_: dict[int, set[str]] = {}
    for check, seen in zip(checks, recipients, strict=True):
        if seen is not None:
            values.setdefault(check[0], set()).update(i.key for i in seen[1])
            if seen[2]:
                addresses_.setdefault(check[0], set()).add(seen[2])
    suppressed = {
        (workspace_id, kind, value)
        for workspace_id, keys in values.items()
        for chunk in _chunks(sorted(keys))
        for kind, value in raw.select_in(conn, _SUPPRESSED, [workspace_id], chunk)
    }
    blocked = {
        (workspace_id, address): str(reason)
        for workspace_id, keys in addresses_.items()
        for chunk in _chunks(sorted(keys))
        for address, reason in raw.select_in(conn, _BLOCKED, [workspace_id], chunk)
    }
    return suppressed, blocked


def _reason(
    check: Check,
    seen: tuple[tuple[Any, ...], list[Identifier], str] | None,
    suppressed: set[tuple[int, str, str]],
    blocked: dict[tuple[int, str], str],
    declared: dict[int, dict[Any, Topic]],
) -> str | None:
    if seen is None:
        return "the person no longer exists"
    workspace_id, _, _, send_to_unsubscribed, topic_id = check
    (_, _, _, unsubscribed, kind, chosen, chosen_kind), idents, address = seen
    if any((workspace_id, i.kind, i.key) in suppressed for i in idents):
        return SUPPRESSED
    # A globally unsubscribed person is in no topic, whatever the send asked.
    if (not send_to_unsubscribed or topic_id is not None) and _truthy(unsubscribed, kind):
        return "the person is unsubscribed"
    if topic_id is not None:
        # An undeclared topic counts as opt-out (`subscriptions/preferences.py`).
        topic = declared[workspace_id].get(topic_id) or Topic(topic_id, "", "", True)
        stored = restore(chosen, chosen_kind) if chosen is not None else None
        if not preferences.subscribed(stored, topic, False):
            return f"the person is not subscribed to topic {topic_id}"
    if (workspace_id, address) in blocked:
        return f"the address {address} is blocked ({blocked[workspace_id, address]})"
    return None


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[n : n + _CHUNK] for n in range(0, len(items), _CHUNK)]


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
    found = raw.select_in(conn, _BLOCKED, [workspace_id], [address])
    return str(found[0][1]) if found else None
