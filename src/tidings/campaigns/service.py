"""Campaign and broadcast use cases of the App API: create, replace, start and stop,
and edit one action's content or sending state.

Each use case takes the caller's connection, never commits, and answers what
`views` shows afterwards, read in the same transaction. Parsing is pure and
raises `ApiError` 400 naming the field: `parse_document` before the write,
`parse_edit` inside it (an edit's fields depend on the action's type).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.campaigns import definitions, store, views
from tidings.campaigns.definitions import (
    MESSAGE_TYPES,
    SENDING_STATES,
    WEBHOOK_FIELDS,
    WEBHOOK_METHODS,
    Campaign,
)
from tidings.errors import bad_request
from tidings.templates import checks
from tidings.templates.definitions import parse_fields

# The document's keys that a campaign as `views` shows it carries at its top level;
# when one is sent back, its `definition` holds the document's other keys and the
# rest of what it shows (Customer.io's fields) is ignored.
_DOCUMENT_KEYS = ("kind", "name", "description", "state", "tags", "workflow")
# Keys of an action as `views` shows it that are not content fields: ignored on PUT.
_SHOWN_ACTION_KEYS = frozenset(
    (
        "id",
        "campaign_id",
        "broadcast_id",
        "parent_action_id",
        "deduplicate_id",
        "name",
        "type",
        "language",
        "created",
        "updated",
        "settings",
    )
)
_FIELD_NAMES = {shown: ours for ours, shown in views.SHOWN_FIELDS.items()}
MAX_URL_CHARS = 4096


# --- campaigns and broadcasts ---------------------------------------------------------------


def parse_document(body: Any, kind: str) -> Campaign:
    """A campaign (or broadcast) document: `{"<kind>": document}` or the document itself.

    A campaign as `views` shows it is taken too: its `definition` stands for the
    document's trigger, filters and the rest, and Customer.io's keys are ignored,
    so a `GET` sent back as a `PUT` changes nothing. An explicit other `kind` is a 400.
    """
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    if set(body) == {kind}:
        body = body[kind]
    if not isinstance(body, dict):
        raise bad_request(f"{kind}: must be an object", kind)
    if "definition" in body:
        shown = body["definition"]
        if not isinstance(shown, dict):
            raise bad_request(f"{kind}.definition: must be an object", f"{kind}.definition")
        body = {**shown, **{k: body[k] for k in _DOCUMENT_KEYS if k in body}}
    if body.get("kind", kind) != kind:
        raise bad_request(f"{kind}.kind: this route takes a {kind}", f"{kind}.kind")
    return definitions.parse(body, kind, kind=kind)


def create(conn: Connection, workspace_id: int, campaign: Campaign, now: int) -> dict[str, Any]:
    campaign_id = store.create(conn, workspace_id, campaign, now)
    return views.get(conn, workspace_id, campaign_id, campaign.kind)


def replace(
    conn: Connection, workspace_id: int, campaign_id: int, campaign: Campaign, now: int
) -> dict[str, Any]:
    """Replace the definition and workflow; steps keep their action ids by key."""
    store.row_of(conn, workspace_id, campaign_id, campaign.kind)
    store.replace(conn, workspace_id, campaign_id, campaign, now)
    return views.get(conn, workspace_id, campaign_id, campaign.kind)


def set_state(
    conn: Connection, workspace_id: int, campaign_id: int, state: str, now: int
) -> dict[str, Any]:
    """Start (`running`) or stop (`stopped`) a campaign. A stopped campaign admits
    nobody; journeys already in it go on (CAMPAIGNS.md 2.5)."""
    store.row_of(conn, workspace_id, campaign_id, "campaign")
    store.set_state(conn, workspace_id, campaign_id, state, now)
    return views.get(conn, workspace_id, campaign_id, "campaign")


# --- one action ------------------------------------------------------------------------------


def update_action(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    kind: str,
    action_id: int,
    language: str,
    body: dict[str, Any],
    now: int,
) -> dict[str, Any]:
    """Merge content fields into one language of a message action (a language it lacks
    starts from the default's fields) and set its `sending_state`."""
    store.row_of(conn, workspace_id, campaign_id, kind)
    action = store.action_row(conn, workspace_id, campaign_id, action_id)
    if action.type not in MESSAGE_TYPES:
        raise bad_request(
            f"action {action_id} is a {action.type} step, which has no content:"
            f" change it in the {kind}'s workflow (PUT /v1/{kind}s/{campaign_id})",
            "type",
        )
    if language and action.type == "webhook":
        raise bad_request("webhook actions have no languages", "language")
    fields, sending_state = parse_edit(action.type, body)
    if sending_state is not None and sending_state != action.sending_state:
        store.set_sending_state(conn, workspace_id, campaign_id, action.id, sending_state, now)
    if fields or language not in store.contents_of(conn, action.id):
        store.put_content(conn, workspace_id, campaign_id, action.id, language, fields, now)
    return views.action(conn, workspace_id, campaign_id, kind, action_id, language)


def parse_edit(action_type: str, body: Any) -> tuple[dict[str, str], str | None]:
    """(content fields, sending_state or None) from a `PUT` on an action of `action_type`.

    Fields take Customer.io's names too (`preheader_text`); the keys `views` shows
    that are not fields are ignored, so an action sent back as shown is accepted.
    """
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    sending_state = body.get("sending_state")
    if sending_state is not None and sending_state not in SENDING_STATES:
        states = ", ".join(SENDING_STATES)
        raise bad_request(f"sending_state must be one of: {states}", "sending_state")
    given: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SHOWN_ACTION_KEYS or key == "sending_state":
            continue
        if value is None:
            raise bad_request(f'{key} cannot be null (set "" to empty it)', key)
        given[_FIELD_NAMES.get(key) or key] = value
    if action_type == "webhook":
        return _webhook_fields(given), sending_state
    channel = "sms" if action_type == "whatsapp" else action_type
    return parse_fields(given, channel, designed=True), sending_state


def _webhook_fields(given: dict[str, Any]) -> dict[str, str]:
    for key in given:
        if key not in WEBHOOK_FIELDS:
            raise bad_request(f"{key} is not a field of webhook actions", key)
    fields: dict[str, str] = {}
    if "url" in given:
        url = given["url"]
        if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_CHARS:
            raise bad_request(f"url must be a URL of 1 to {MAX_URL_CHARS} characters", "url")
        checks.liquid(url, "url")
        fields["url"] = url
    if "body" in given:
        if not isinstance(given["body"], str):
            raise bad_request("body must be a string (Liquid)", "body")
        checks.liquid(given["body"], "body")
        fields["body"] = given["body"]
    if "method" in given:
        if given["method"] not in WEBHOOK_METHODS:
            raise bad_request(f"method must be one of: {', '.join(WEBHOOK_METHODS)}", "method")
        fields["method"] = given["method"]
    if "headers" in given:
        fields["headers"] = _headers(given["headers"])
    return fields


def _headers(value: Any) -> str:
    """Headers as `{name: value}`, Customer.io's `[{name, value}]`, or either as JSON
    text; stored as sorted JSON of `{name: value}`."""
    if isinstance(value, str):
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise bad_request("headers must be JSON", "headers") from None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        if not all(set(item) == {"name", "value"} for item in value):
            raise bad_request("headers must be a list of {name, value}", "headers")
        value = {item["name"]: item["value"] for item in value}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.isascii() and v.isascii()
        for k, v in value.items()
    ):
        raise bad_request("headers must map ASCII names to ASCII strings", "headers")
    return msgspec.json.encode(dict(sorted(value.items()))).decode()
