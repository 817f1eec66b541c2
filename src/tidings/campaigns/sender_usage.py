"""`GET /v1/sender_identities/{id}/used_by`: what sends from a sender identity.

Customer.io answers `{"campaigns": [...], "sent_newsletters": [...],
"draft_newsletters": [...]}` (ids). A campaign uses an identity when one of
its workflow's email contents (any language, an action not removed) sends
from it or replies to it; a newsletter when one of its contents (any test
group or language) does, and it counts as sent once it has started. Tidings
adds, in the same shape, `broadcasts` (Customer.io counts them among
campaigns; here they have their own id list, as in a segment's `used_by`)
and `transactional_messages`, whose contents name the identity too.

A content names an identity by its id (`from_id`, `reply_to_id`: newsletters,
`campaigns/newsletter_references.py`) or by its address (`from`,
`reply_to`), compared as a send compares it: case-insensitively, display
names ignored. An unknown identity is a 404.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import (
    action_contents,
    campaign_actions,
    campaigns,
    transactional_contents,
)
from tidings.providers import addresses
from tidings.templates import senders

ADDRESS_FIELDS = ("from", "reply_to")
ID_FIELDS = ("from_id", "reply_to_id")
_decode = msgspec.json.decode


def used_by(conn: Connection, workspace_id: int, sender_id: int) -> dict[str, list[int]]:
    email = senders.get(conn, workspace_id, sender_id)["email"]
    kinds, started = _campaigns_naming(conn, workspace_id, sender_id, email)
    found = sorted(kinds)
    newsletters = [cid for cid in found if kinds[cid] == "newsletter"]
    return {
        "campaigns": [cid for cid in found if kinds[cid] == "campaign"],
        "sent_newsletters": [cid for cid in newsletters if cid in started],
        "draft_newsletters": [cid for cid in newsletters if cid not in started],
        "broadcasts": [cid for cid in found if kinds[cid] == "broadcast"],
        "transactional_messages": _transactional_naming(conn, workspace_id, sender_id, email),
    }


def names(fields: Any, sender_id: int, email: str) -> bool:
    """Whether a content's fields send from, or reply to, the identity (pure)."""
    if not isinstance(fields, dict):
        return False
    if any(fields.get(key) == sender_id for key in ID_FIELDS):
        return True
    return any(_address(fields.get(key)) == email for key in ADDRESS_FIELDS)


def _address(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return addresses.parse(value)[1].lower()


def _campaigns_naming(
    conn: Connection, workspace_id: int, sender_id: int, email: str
) -> tuple[dict[int, str], set[int]]:
    """campaign id -> kind, for the campaigns, broadcasts and newsletters naming it,
    and which of them have started."""
    rows = conn.execute(
        select(
            campaigns.c.id, campaigns.c.kind, campaigns.c.first_started, action_contents.c.fields
        )
        .select_from(
            action_contents.join(
                campaign_actions, campaign_actions.c.id == action_contents.c.action_id
            ).join(campaigns, campaigns.c.id == campaign_actions.c.campaign_id)
        )
        .where(
            action_contents.c.workspace_id == workspace_id,
            campaign_actions.c.removed == 0,
        )
    )
    naming = [row for row in rows if names(_decode(row.fields), sender_id, email)]
    kinds = {row.id: row.kind for row in naming}
    return kinds, {int(row.id) for row in naming if row.first_started is not None}


def _transactional_naming(
    conn: Connection, workspace_id: int, sender_id: int, email: str
) -> list[int]:
    rows = conn.execute(
        select(transactional_contents.c.message_id, transactional_contents.c.fields).where(
            transactional_contents.c.workspace_id == workspace_id
        )
    )
    return sorted(
        {int(row.message_id) for row in rows if names(_decode(row.fields), sender_id, email)}
    )
