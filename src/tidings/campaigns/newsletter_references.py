"""An email newsletter's references: `from_id`, `reply_to_id`, `layout_id`.

Customer.io's email newsletter takes `from` xor `from_id` (a sender
identity), `reply_to_id` (a sender identity) and `layout_id` (a layout)
(CAMPAIGNS.md 5.2). A content stores the id it is given in place of the
literal field it stands for (`from`, `reply_to`, `layout`): the reference
is kept, not copied, so renaming the identity or editing the layout reaches
the messages sent after it, and the content shows the literal field as the
identity's address (or the layout's name) read when it is shown, beside the
id, Customer.io's way. Giving the literal field drops the reference, and an
id of `null` drops it too.

A body may hold both the id and its literal field, since a content read
back holds both: the literal must then be what the id stands for, or the
body is refused as naming two different senders. An id the workspace does
not have is a 400 naming the field.

At send time (`messages.py`) `resolved` puts the literal fields back from
the ids, with the reads of `templates/senders.py` and `templates/layouts.py`
the transactional sends use; an identity or layout deleted since fails the
message with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from tidings.errors import bad_request
from tidings.templates import design_studio, layouts, senders

# The id field -> the literal field it stands for.
REFERENCES = {"from_id": "from", "reply_to_id": "reply_to", "layout_id": "layout"}
Lookup = Callable[[int], "str | None"]


def parse(action_type: str, body: dict[str, Any]) -> dict[str, int | None]:
    """The ids a content body gives (pure): each a positive integer, or None to drop it;
    email newsletters only."""
    found: dict[str, int | None] = {}
    for key in REFERENCES:
        if key not in body:
            continue
        value = body[key]
        if action_type != "email":
            raise bad_request(f"{key} is a field of email newsletters only", key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise bad_request(f"{key} must be the id of a {_what(key)}", key)
        if value is not None and value < 1:
            raise bad_request(f"{key} must be the id of a {_what(key)}", key)
        found[key] = value
    return found


def merge(
    conn: Connection, workspace_id: int, stored: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """`stored` with the parsed body `given` on top: a literal field given drops the id
    stored for it, an id given drops the literal (checked against the workspace, as is
    a Design Studio email `given` names)."""
    design_studio.check_named(conn, workspace_id, given)
    ids = {key: given[key] for key in REFERENCES if key in given}
    fields = without_ids(given)
    merged = {**stored, **fields}
    for key, literal in REFERENCES.items():
        if literal in fields and key not in ids:
            merged.pop(key, None)
    for key, value in ids.items():
        literal = REFERENCES[key]
        if value is None:
            merged.pop(key, None)
            continue
        shown = lookups(conn, workspace_id)[key](value)
        if shown is None:
            raise bad_request(f"{key} {value} is not a {_what(key)} of this workspace", key)
        if fields.get(literal) and fields[literal] != shown:
            raise bad_request(f"give {literal} or {key}, not both", key)
        merged.pop(literal, None)
        merged[key] = value
    return merged


def resolved(fields: dict[str, Any], lookups: dict[str, Lookup], *, strict: bool) -> dict[str, Any]:
    """The fields with each literal put back from its id (the ids are kept). A reference
    to something gone is a 400 when `strict` (a message cannot go out without its
    sender), else its literal is left empty (a content is still shown)."""
    out = dict(fields)
    for key, literal in REFERENCES.items():
        value = fields.get(key)
        if not isinstance(value, int):
            continue
        shown = lookups[key](value)
        if shown is None and strict:
            raise bad_request(f"the {_what(key)} {value} ({key}) no longer exists", key)
        out[literal] = shown or ""
    return out


def without_ids(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a message renders: the literal ones."""
    return {name: value for name, value in fields.items() if name not in REFERENCES}


def lookups(conn: Connection, workspace_id: int) -> dict[str, Lookup]:
    def sender(sender_id: int) -> str | None:
        return senders.address_of(conn, workspace_id, sender_id)

    def layout(layout_id: int) -> str | None:
        return layouts.name_of(conn, workspace_id, layout_id)

    return {"from_id": sender, "reply_to_id": sender, "layout_id": layout}


def _what(key: str) -> str:
    return "layout" if key == "layout_id" else "sender identity"
