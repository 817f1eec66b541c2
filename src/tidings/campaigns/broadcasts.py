"""API-triggered broadcasts: a trigger's body, checked and stored with its fan-out job.

`parse_trigger` (pure) reads a body of `POST /v1/campaigns/{id}/triggers`
(BEHAVIOUR.md 5.2): `data` (at most 50,000 bytes of JSON, `{{trigger.*}}` in
the messages) and at most one audience form:

    (none)          the broadcast's own `audience` condition, as it is when triggered
    recipients      a condition (segments/conditions.py, a superset of the audience filter)
    ids             up to 10,000 ids;           id_ignore_missing
    emails          up to 10,000 addresses;     email_ignore_missing, email_add_duplicates
    per_user_data   up to 10,000 {id | email, data}; the flags of both
    data_file_url   JSON lines of {id | email, data}, fetched by the job; the flags of both

The Node client spreads `ids`, `emails`, `per_user_data` and `data_file_url`
(with their flags) at the top level, and sends anything else wrapped in
`recipients`; other clients wrap those keys in `recipients` too, so a
`recipients` holding one of them is read as if spread. A key the body may
not hold is refused rather than ignored: a misspelt `idz` must not fall
back to the default audience and reach everyone. A body that is not a JSON
object is a 400 (the route's); every other refusal is a 422.

`trigger` (a write use case) refuses an unknown broadcast (404, also a
campaign that is not a broadcast or another workspace's), a broadcast that
is not `running` (422: its journeys would not start), one triggered less
than 10 seconds ago or with 5 triggers not yet processed (429 with
`Retry-After`), then stores the `broadcast_triggers` row and enqueues its
`broadcast_fanout` job in the same transaction. Nobody is looked up here:
the job resolves the audience (`fanout.py`). The broadcast's row is locked
(PostgreSQL) so two servers cannot both pass the rate check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, func, insert, select

from tidings.db.schema import broadcast_triggers, campaigns
from tidings.errors import ApiError, not_found
from tidings.fetch import FetchFailed, parse_url
from tidings.jobs.queue import enqueue
from tidings.people.identifiers import coerce_id
from tidings.segments import conditions

JOB_KIND = "broadcast_fanout"
MAX_BODY = 25 * 1024 * 1024  # the documented payload limit
MAX_DATA_BYTES = 50_000
MAX_ENTRIES = 10_000  # ids, emails, per_user_data entries
MAX_EMAIL = 255
EVERY = 10  # seconds between two triggers of one broadcast
MAX_PENDING = 5  # triggers not yet processed, per broadcast

LISTS = ("ids", "emails", "per_user_data")
SPREAD = (*LISTS, "data_file_url")  # what the Node client sends outside `recipients`
FORMS = ("recipients", *SPREAD)
FLAGS = ("id_ignore_missing", "email_ignore_missing", "email_add_duplicates")
FORM_FLAGS = {
    "ids": ("id_ignore_missing",),
    "emails": ("email_ignore_missing", "email_add_duplicates"),
    "per_user_data": FLAGS,
    "data_file_url": FLAGS,
}
BODY_KEYS = frozenset(("data", *FORMS, *FLAGS))
PENDING = ("queued", "running")

_encode = msgspec.json.Encoder(order="sorted").encode


@dataclass(frozen=True)
class TriggerRequest:
    """A checked trigger body: its data, and its audience as stored with the trigger
    (`{"form": ..., <the form's key>: ..., <flags>: bool}`; the default audience's
    condition is filled in by `trigger`)."""

    data: dict[str, Any]
    audience: dict[str, Any]


def invalid(message: str, field: str = "") -> ApiError:
    return ApiError(422, message, code="invalid_trigger", field=field)


# --- parsing (pure) --------------------------------------------------------------------------


def parse_trigger(body: dict[str, Any]) -> TriggerRequest:
    """A trigger body (a JSON object); a 422 naming the field at fault otherwise."""
    body = _unwrapped(body)
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise invalid(f"unknown field {unknown[0]!r}: a trigger holds {_listed(BODY_KEYS)}")
    forms = [key for key in FORMS if body.get(key) is not None]
    if len(forms) > 1:
        raise invalid(f"give at most one audience, not {' and '.join(forms)}", forms[1])
    audience: dict[str, Any] = {"form": forms[0] if forms else "default"}
    if forms:
        audience[forms[0]] = _FORMS[forms[0]](body[forms[0]])
    for flag in FLAGS:
        audience[flag] = _flag(body.get(flag), flag)
    return TriggerRequest(_data(body.get("data")), audience)


def _unwrapped(body: dict[str, Any]) -> dict[str, Any]:
    """`recipients` holding `ids`, `emails`, `per_user_data` or `data_file_url` (and
    their flags) is read as those keys at the top level."""
    wrapped = body.get("recipients")
    if not isinstance(wrapped, dict) or not any(key in wrapped for key in SPREAD):
        return body
    stray = sorted(set(wrapped) - {*SPREAD, *FLAGS})
    if stray:
        raise invalid(f"recipients mixes {stray[0]!r} with a list of people", "recipients")
    twice = sorted(set(wrapped) & set(body))
    if twice:
        raise invalid(f"{twice[0]} is given both inside and outside recipients", twice[0])
    return {**{k: v for k, v in body.items() if k != "recipients"}, **wrapped}


def _data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("data must be an object", "data")
    if len(_encode(value)) > MAX_DATA_BYTES:
        raise invalid(f"data must be at most {MAX_DATA_BYTES} bytes of JSON", "data")
    return value


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{name} must be true or false", name)
    return value


def _recipients(value: Any) -> Any:
    try:
        conditions.parse(value, "recipients")
    except ApiError as exc:
        raise invalid(exc.message, exc.field) from exc
    return value


def _entries(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise invalid(f"{name} must be a non-empty array", name)
    if len(value) > MAX_ENTRIES:
        raise invalid(f"{name} may hold at most {MAX_ENTRIES} entries", name)
    return value


def _id(value: Any, field: str) -> str:
    try:
        return coerce_id(value, field)
    except ApiError as exc:
        raise invalid(exc.message, field) from exc


def _email(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_EMAIL:
        raise invalid(f"{field} must be an email address of at most {MAX_EMAIL} characters", field)
    return value.strip()


def _ids(value: Any) -> list[str]:
    return [_id(item, f"ids[{n}]") for n, item in enumerate(_entries(value, "ids"))]


def _emails(value: Any) -> list[str]:
    return [_email(item, f"emails[{n}]") for n, item in enumerate(_entries(value, "emails"))]


def _per_user_data(value: Any) -> list[dict[str, Any]]:
    return [
        per_user_entry(item, f"per_user_data[{n}]")
        for n, item in enumerate(_entries(value, "per_user_data"))
    ]


def per_user_entry(item: Any, field: str) -> dict[str, Any]:
    """One `{id | email, data}` entry (per_user_data, or a data file's line)."""
    if not isinstance(item, dict):
        raise invalid(f"{field} must be an object holding id or email, and data", field)
    stray = sorted(set(item) - {"id", "email", "data"})
    if stray:
        raise invalid(f"{field} holds an unknown field {stray[0]!r}", field)
    named = [key for key in ("id", "email") if item.get(key) is not None]
    if len(named) != 1:
        raise invalid(f"{field} must hold exactly one of id or email", field)
    key = named[0]
    ident = _id(item[key], f"{field}.id") if key == "id" else _email(item[key], f"{field}.email")
    data = item.get("data")
    if data is not None and not isinstance(data, dict):
        raise invalid(f"{field}.data must be an object", f"{field}.data")
    return {key: ident, "data": data or {}}


def _data_file_url(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("data_file_url must be a URL", "data_file_url")
    try:
        parse_url(value)
    except FetchFailed as exc:
        raise invalid(f"data_file_url: {exc}", "data_file_url") from exc
    return value


_FORMS = {
    "recipients": _recipients,
    "ids": _ids,
    "emails": _emails,
    "per_user_data": _per_user_data,
    "data_file_url": _data_file_url,
}


def _listed(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


# --- triggering (a write use case) -----------------------------------------------------------


def trigger(
    conn: Connection, workspace_id: int, broadcast_id: int, request: TriggerRequest, now: int
) -> int:
    """Store a trigger of the broadcast and enqueue its fan-out; the trigger's id."""
    broadcast = _locked_broadcast(conn, workspace_id, broadcast_id)
    if broadcast.state != "running":
        raise invalid(
            f"broadcast {broadcast_id} is {broadcast.state}: only a running broadcast can be"
            " triggered"
        )
    audience = _with_default(request.audience, broadcast)
    _check_rate(conn, broadcast_id, now)
    inserted = conn.execute(
        insert(broadcast_triggers).values(
            workspace_id=workspace_id,
            campaign_id=broadcast_id,
            audience=_encode(audience).decode(),
            data=_encode(request.data).decode(),
            state="queued",
            position=0,
            recipients_count=0,
            errors_count=0,
            created_at=now,
        )
    )
    trigger_id = int(inserted.inserted_primary_key[0])
    enqueue(conn, workspace_id, JOB_KIND, {"trigger_id": trigger_id}, now)
    return trigger_id


def broadcast_row(
    conn: Connection, workspace_id: int, broadcast_id: int, lock: bool = False
) -> Any:
    """The broadcast's `campaigns` row; a 404 unless the workspace has that broadcast."""
    query = select(campaigns).where(
        campaigns.c.id == broadcast_id,
        campaigns.c.workspace_id == workspace_id,
        campaigns.c.kind == "broadcast",
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise not_found("broadcast not found")
    return row


def _locked_broadcast(conn: Connection, workspace_id: int, broadcast_id: int) -> Any:
    return broadcast_row(conn, workspace_id, broadcast_id, lock=True)


def _with_default(audience: dict[str, Any], broadcast: Any) -> dict[str, Any]:
    """The default audience is the broadcast's `audience` condition as it is now."""
    if audience["form"] != "default":
        return audience
    condition = msgspec.json.decode(broadcast.definition).get("audience")
    if condition is None:
        raise invalid(
            "the broadcast has no audience of its own: give recipients, ids, emails,"
            " per_user_data or data_file_url"
        )
    return {**audience, "recipients": condition}


def _check_rate(conn: Connection, broadcast_id: int, now: int) -> None:
    """One trigger per `EVERY` seconds per broadcast, and at most `MAX_PENDING` pending."""
    c = broadcast_triggers.c
    last = conn.execute(
        select(func.max(c.created_at)).where(c.campaign_id == broadcast_id)
    ).scalar()
    if last is not None and now < last + EVERY:
        raise _too_many(
            f"this broadcast was triggered less than {EVERY} seconds ago", last + EVERY - now
        )
    pending = conn.execute(
        select(func.count()).where(c.campaign_id == broadcast_id, c.state.in_(PENDING))
    ).scalar_one()
    if pending >= MAX_PENDING:
        raise _too_many(f"this broadcast already has {MAX_PENDING} triggers queued", EVERY)


def _too_many(message: str, wait: float) -> ApiError:
    seconds = str(max(1, math.ceil(wait)))
    return ApiError(429, message, code="rate_limited", headers={"Retry-After": seconds})
