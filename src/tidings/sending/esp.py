"""The ESP suppression list (`/v1/esp/...`, App API) over `blocked_addresses`.

Customer.io keeps, per workspace, the email addresses its ESP will not send
to, in four categories: `bounces`, `blocks`, `spam_reports` and
`invalid_emails`. Here they are the rows of `blocked_addresses`, which the
delivery worker checks before every send (`sending/suppression.py`): a hard
bounce (`bounced`) or spam complaint (`spammed`) reported by a provider, a
Track metric or a v2 delivery operation lands in `bounces` or
`spam_reports`; the API adds to any category and removes from it.

An address holds one entry, so it is in one category at a time: adding it
to another moves it there (as blocked for every sending domain: an address
suppressed through the API is, in Customer.io, suppressed across the
workspace's domains); a bounce or complaint reported later keeps the entry
there is. Blocking is not per sending domain: a blocked address is not sent
to from any domain, which is stricter than Customer.io and never sends what
it would not. An entry's `domain` is the sending domain of the message that
bounced or complained, and the domain listing shows the entries that apply to
that domain: those recorded for it and those for every domain.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings.db.schema import blocked_addresses
from tidings.errors import bad_request, not_found
from tidings.paging import parse_limit

# Customer.io's category -> our `blocked_addresses.reason`.
REASONS = {
    "bounces": "bounced",
    "blocks": "blocked",
    "spam_reports": "spammed",
    "invalid_emails": "invalid",
}
CATEGORIES = {reason: category for category, reason in REASONS.items()}
LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
CATEGORY_QUERY = ("limit", "offset", "email", "domain")  # what `by_category` reads
DOMAIN_QUERY = ("limit", "start", "email")  # what `by_domain` reads
_EXPLAINED = {"bounced": "hard bounce", "spammed": "spam complaint"}
_STATUS = "550"  # what Mailgun records for a suppression, and Customer.io passes on


def parse_category(raw: str) -> str:
    """The `reason` stored for a category named in a path; 400 for another name."""
    if raw not in REASONS:
        raise bad_request(f"suppression type must be one of: {', '.join(REASONS)}", "type")
    return REASONS[raw]


def parse_email(raw: str) -> str:
    """An email address from a path or a filter, lower-cased as stored; 400 if not one."""
    address = raw.strip().lower()
    if "@" not in address or len(address) > 255 or any(c.isspace() for c in address):
        raise bad_request("email must be an email address", "email")
    return address


def parse_domain(raw: str) -> str:
    domain = raw.strip().lower()
    if not domain or len(domain) > 255 or "@" in domain or "/" in domain:
        raise bad_request("domain must be a domain name", "domain")
    return domain


def suppress(conn: Connection, workspace_id: int, reason: str, address: str, now: int) -> None:
    """Put `address` in a category, for every sending domain (moving it from another)."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    values = {"reason": reason, "delivery_id": None, "domain": None, "created_at": now}
    statement = dialect.insert(blocked_addresses).values(
        workspace_id=workspace_id, address=address, **values
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[blocked_addresses.c.workspace_id, blocked_addresses.c.address],
            set_=values,
        )
    )


def unsuppress(conn: Connection, workspace_id: int, reason: str, address: str) -> None:
    """Take `address` out of a category, so it may be sent to again; 404 if not in it."""
    removed = conn.execute(
        delete(blocked_addresses).where(
            blocked_addresses.c.workspace_id == workspace_id,
            blocked_addresses.c.address == address,
            blocked_addresses.c.reason == reason,
        )
    ).rowcount
    if removed != 1:
        raise not_found(f"{address} is not in {CATEGORIES[reason]}")


def search(conn: Connection, workspace_id: int, address: str) -> dict[str, Any]:
    """The category an address is in and its entry; `""` and no entries when none."""
    row = conn.execute(_in_workspace(workspace_id).where(blocked_addresses.c.address == address))
    found = row.first()
    if found is None:
        return {"category": "", "suppressions": []}
    return {"category": CATEGORIES.get(found.reason, found.reason), "suppressions": [_entry(found)]}


def by_category(
    conn: Connection,
    workspace_id: int,
    reason: str,
    query: dict[str, str],
) -> dict[str, Any]:
    """A category's entries in address order, `limit` (≤1000) from `offset`, filtered
    by `email` and by the sending `domain` they apply to."""
    limit = parse_limit(query.get("limit", ""), LIMIT, MAX_LIMIT)
    offset = _offset(query.get("offset", ""))
    statement = _in_workspace(workspace_id).where(blocked_addresses.c.reason == reason)
    if query.get("email"):
        statement = statement.where(blocked_addresses.c.address == parse_email(query["email"]))
    if query.get("domain"):
        domain = parse_domain(query["domain"])
        statement = statement.where(
            (blocked_addresses.c.domain == domain) | blocked_addresses.c.domain.is_(None)
        )
    ordered = statement.order_by(blocked_addresses.c.address).limit(limit).offset(offset)
    rows = conn.execute(ordered).all()
    return {"category": CATEGORIES[reason], "suppressions": [_entry(r) for r in rows]}


def by_domain(
    conn: Connection,
    workspace_id: int,
    domain: str,
    reason: str,
    query: dict[str, str],
) -> dict[str, Any]:
    """The entries of a category that apply to mail from `domain`, in address order,
    keyset-paged (`start` is the `next` of the page before; `""` on the last page).

    Two index ranges of `(workspace_id, domain, address)`, the domain's own and
    every domain's, merged: a page costs its length, however long the list."""
    limit = parse_limit(query.get("limit", ""), LIMIT, MAX_LIMIT)
    after = _decode_start(query.get("start", ""))
    email = parse_email(query["email"]) if query.get("email") else None
    rows: list[Any] = []
    for scope in (blocked_addresses.c.domain == domain, blocked_addresses.c.domain.is_(None)):
        statement = _in_workspace(workspace_id).where(scope, blocked_addresses.c.reason == reason)
        if email is not None:
            statement = statement.where(blocked_addresses.c.address == email)
        if after is not None:
            statement = statement.where(blocked_addresses.c.address > after)
        ordered = statement.order_by(blocked_addresses.c.address).limit(limit + 1)
        rows += conn.execute(ordered).all()
    rows.sort(key=lambda r: r.address)
    shown = rows[:limit]
    more = len(rows) > limit and email is None
    return {
        "category": CATEGORIES[reason],
        "suppressions": [_entry(r) for r in shown],
        "next": _encode_start(shown[-1].address) if more else "",
    }


def _in_workspace(workspace_id: int) -> Any:
    return select(blocked_addresses).where(blocked_addresses.c.workspace_id == workspace_id)


def _entry(row: Any) -> dict[str, Any]:
    if row.delivery_id:
        why = f"{_EXPLAINED.get(row.reason, row.reason)} reported for delivery {row.delivery_id}"
    else:
        why = "added through the ESP suppression API"
    return {"email": row.address, "created": row.created_at, "reason": why, "status": _STATUS}


def _offset(raw: str) -> int:
    if raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_OFFSET:
        raise bad_request(f"offset must be an integer from 0 to {MAX_OFFSET}", "offset")
    return int(raw)


def _encode_start(address: str) -> str:
    return base64.urlsafe_b64encode(f"a:{address}".encode()).decode().rstrip("=")


def _decode_start(start: str) -> str | None:
    """The last address of the page before, from a `next` made by `_encode_start`."""
    if not start:
        return None
    try:
        text = base64.urlsafe_b64decode(start + "=" * (-len(start) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("a:"):
        raise bad_request("start is not a cursor this server gave", "start")
    return text[2:]
