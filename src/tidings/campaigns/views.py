"""What the App API shows of campaigns, broadcasts and their actions (reads only).

Shapes are Customer.io's (`campaignObject`, `broadcastObject`, the action
objects of its OpenAPI document) plus two extensions on campaigns and
broadcasts: `definition` and `workflow`, the document they were saved from
as `documents.py` writes it back, so that a `GET` sent back as a `PUT`
changes nothing. `kind` is `campaign` or `broadcast`: each is shown only
under its own routes, any other id is a 404.

A message action shows the fields of one language (`""`, the default,
unless asked) flattened into it, under Customer.io's names (`preheader` as
`preheader_text`, a webhook's headers as the JSON text of `[{name, value}]`);
other actions show their stored `settings` (durations in seconds, each
path's first action id).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings import paging
from tidings.campaigns import documents, store
from tidings.campaigns.definitions import MESSAGE_TYPES
from tidings.db.schema import action_contents, campaign_actions, campaigns
from tidings.errors import not_found
from tidings.segments import service as segments

ACTIONS_LIMIT = 100
ACTIONS_MAX = 1000
# Customer.io's name for an action type, where it differs from ours.
API_TYPES = {"sms": "twilio"}
# Customer.io's name for a content field, where it differs from ours.
SHOWN_FIELDS = {"preheader": "preheader_text"}
# The deprecated campaign `type`: what kind of trigger (attribute changes are segment-like).
_TRIGGER_TYPES = {"event": "event", "segment": "segment", "attribute": "segment", "date": "date"}
_DATE_FIELDS = (
    "date_attribute",
    "start_hour",
    "start_minutes",
    "timezone",
    "use_customer_timezone",
    "frequency",
)

_decode = msgspec.json.decode


def api_type(action_type: str) -> str:
    return API_TYPES.get(action_type, action_type)


# --- campaigns and broadcasts -------------------------------------------------------------


def list_all(conn: Connection, workspace_id: int, kind: str) -> list[dict[str, Any]]:
    return [_shown(conn, row) for row in store.rows_of(conn, workspace_id, kind)]


def get(conn: Connection, workspace_id: int, campaign_id: int, kind: str) -> dict[str, Any]:
    return _shown(conn, store.row_of(conn, workspace_id, campaign_id, kind))


def _shown(conn: Connection, row: Any) -> dict[str, Any]:
    actions = store.action_rows(conn, row.id)
    contents = _contents(conn, [a.id for a in actions if a.type in MESSAGE_TYPES])
    stored = store.definition_of(row)
    templates = [
        {"id": contents[a.id][""][0], "type": api_type(a.type)}
        for a in actions
        if "" in contents.get(a.id, {})
    ]
    common = {
        "id": row.id,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "name": row.name,
        "description": row.description,
        "created": row.created_at,
        "updated": row.updated_at,
        "active": row.state == "running",
        "state": row.state,
        "actions": [{"id": a.id, "type": api_type(a.type)} for a in actions],
        "first_started": row.first_started,
        "tags": _decode(row.tags),
        "created_by": None,
    }
    if row.kind == "broadcast":
        shown = {**common, "type": "triggered_broadcast", "msg_template_ids": templates}
    else:
        shown = {**common, **_trigger_fields(row, stored), "msg_templates": templates}
    return {
        **shown,
        "definition": documents.definition(row.kind, stored),
        "workflow": documents.workflow(actions, _fields_of(contents)),
    }


def _trigger_fields(row: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """A campaign's fields that describe its trigger and filters."""
    trigger = stored["trigger"]
    return {
        "type": _TRIGGER_TYPES[row.trigger_kind],
        "trigger_segment_ids": documents.segment_ids(trigger),
        "filter_segment_ids": documents.segment_ids(stored.get("filters")),
        "event_name": row.event_name,
        **_date_fields(trigger.get("date")),
        "scheduled_start": None,
        "scheduled_stop": None,
    }


def document_of(conn: Connection, row: Any) -> dict[str, Any]:
    """The campaign document a saved campaign (its `campaigns` row) was saved from,
    as `definitions.parse` reads it."""
    actions = store.action_rows(conn, row.id)
    contents = _contents(conn, [a.id for a in actions if a.type in MESSAGE_TYPES])
    return {
        "kind": row.kind,
        "name": row.name,
        "description": row.description,
        "state": row.state,
        "tags": _decode(row.tags),
        **documents.definition(row.kind, store.definition_of(row)),
        "workflow": documents.workflow(actions, _fields_of(contents)),
    }


def _fields_of(
    contents: dict[int, dict[str, tuple[int, dict[str, str]]]],
) -> dict[int, dict[str, dict[str, str]]]:
    return {aid: {lang: f for lang, (_, f) in found.items()} for aid, found in contents.items()}


def _date_fields(date: dict[str, Any] | None) -> dict[str, Any]:
    if date is None:
        return dict.fromkeys(_DATE_FIELDS)
    customer = date["timezone"] == "customer"
    return {
        "date_attribute": date["attribute"],
        "start_hour": date["hour"],
        "start_minutes": date["minute"],
        "timezone": date["fallback_timezone"] if customer else date["timezone"],
        "use_customer_timezone": customer,
        "frequency": date["frequency"],
    }


def _contents(
    conn: Connection, action_ids: list[int]
) -> dict[int, dict[str, tuple[int, dict[str, str]]]]:
    """Contents of many actions in one query: action id -> language -> (id, fields)."""
    found: dict[int, dict[str, tuple[int, dict[str, str]]]] = {}
    if not action_ids:
        return found
    rows = conn.execute(
        select(
            action_contents.c.action_id,
            action_contents.c.language,
            action_contents.c.id,
            action_contents.c.fields,
        )
        .where(action_contents.c.action_id.in_(action_ids), action_contents.c.test_group == 0)
        .order_by(action_contents.c.language)
    )
    for action_id, language, content_id, fields in rows:
        found.setdefault(action_id, {})[language] = (content_id, _decode(fields))
    return found


# --- actions --------------------------------------------------------------------------------


def actions_page(
    conn: Connection, workspace_id: int, campaign_id: int, kind: str, page: paging.PageRequest
) -> dict[str, Any]:
    """`{"actions": [...], "next": cursor}`, in workflow order (keyed by position)."""
    store.row_of(conn, workspace_id, campaign_id, kind)
    rows = store.action_rows(conn, campaign_id)
    if page.after is not None:
        rows = [row for row in rows if row.ordinal > page.after[0]]
    shown, cursor = paging.cut(rows, page.limit, lambda row: (row.ordinal,))
    contents = _contents(conn, [a.id for a in shown if a.type in MESSAGE_TYPES])
    return {
        "actions": [
            action_json(row, kind, campaign_id, "", contents.get(row.id, {}).get("", (0, {}))[1])
            for row in shown
        ],
        "next": cursor,
    }


def action(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    kind: str,
    action_id: int,
    language: str = "",
) -> dict[str, Any]:
    """One action, its fields in `language`: a 404 for a language it has no content in
    (the default language of a non-message action is its settings)."""
    store.row_of(conn, workspace_id, campaign_id, kind)
    row = store.action_row(conn, workspace_id, campaign_id, action_id)
    contents = store.contents_of(conn, row.id)
    if language and language not in contents:
        raise not_found("no content in this language")
    return action_json(row, kind, campaign_id, language, contents.get(language, (0, {}))[1])


def action_json(
    row: Any, kind: str, campaign_id: int, language: str, fields: dict[str, str]
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row.id,
        f"{kind}_id": campaign_id,
        "parent_action_id": row.parent_action_id,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "name": row.name,
        "type": api_type(row.type),
        "created": row.created_at,
        "updated": row.updated_at,
    }
    if row.type not in MESSAGE_TYPES:
        settings = _decode(row.settings)
        return {**shown, "settings": settings}
    return {
        **shown,
        "sending_state": row.sending_state,
        "language": language,
        **shown_fields(fields),
    }


def shown_fields(fields: dict[str, str]) -> dict[str, str]:
    shown = {SHOWN_FIELDS.get(name, name): value for name, value in fields.items()}
    if "headers" in fields:
        pairs = _decode(fields["headers"]).items()
        encoded = msgspec.json.encode([{"name": k, "value": v} for k, v in pairs])
        shown["headers"] = encoded.decode()
    return shown


# --- what uses a segment -------------------------------------------------------------------


def used_by(conn: Connection, workspace_id: int, segment_id: int) -> dict[str, Any]:
    """The campaigns and broadcasts naming the segment in their trigger, filters,
    exit_when, goal, audience or any workflow condition, and the newsletters naming it
    in their recipients (sent or not yet); a 404 for an unknown segment."""
    segments.row_of(conn, workspace_id, segment_id)
    rows = conn.execute(
        select(
            campaigns.c.id, campaigns.c.kind, campaigns.c.definition, campaigns.c.first_started
        ).where(campaigns.c.workspace_id == workspace_id)
    ).all()
    kinds = {row.id: row.kind for row in rows}
    sent = {row.id for row in rows if row.first_started is not None}
    naming = {
        row.id for row in rows if segment_id in documents.segment_ids(_decode(row.definition))
    }
    for campaign_id, settings in conn.execute(
        select(campaign_actions.c.campaign_id, campaign_actions.c.settings).where(
            campaign_actions.c.workspace_id == workspace_id, campaign_actions.c.removed == 0
        )
    ):
        if segment_id in documents.segment_ids(_decode(settings)):
            naming.add(campaign_id)
    found = sorted(naming)
    return {
        "used_by": {
            "campaigns": [cid for cid in found if kinds[cid] == "campaign"],
            "broadcasts": [cid for cid in found if kinds[cid] == "broadcast"],
            "sent_newsletters": [
                cid for cid in found if kinds[cid] == "newsletter" and cid in sent
            ],
            "draft_newsletters": [
                cid for cid in found if kinds[cid] == "newsletter" and cid not in sent
            ],
        }
    }
