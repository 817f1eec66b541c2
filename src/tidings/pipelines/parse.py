"""The general reading of Segment messages: any type, into a `Message` (pure, no database).

Each rule it applies (ids, names, times, limits, the stored layout) is a
function of `pipelines.rules`, which the fast reading of plain events
(`pipelines.fast`) calls too; this module puts them together per message
type, in the order that decides which problem a refusal names.

A message is validated the same way whether it came alone (`POST /v1/track`)
or inside `/v1/batch`; a batch's `context`, `integrations` and `sentAt` apply
to each item (the item's own keys win, one level deep for the two objects).
A problem raises `ApiError` (code `invalid_request`, or `too_large`); the
caller decides whether that refuses the request (strict mode) or records the
message as rejected.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.attributes import check_attributes
from tidings.errors import ApiError, bad_request
from tidings.objects.store import ObjectRef, parse_ref
from tidings.people.service import parse_identify
from tidings.pipelines import semantic
from tidings.pipelines.rules import (
    EVENT_TYPES,
    NAME_KEY,
    TYPES,
    Plain,
    check_message_id,
    dedup_key,
    document,
    event_name,
    ident,
    inherit,
    iso,
    need_someone,
    object_of,
    when,
)
from tidings.pipelines.semantic import Semantic

MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
_encode = msgspec.json.Encoder().encode


class Group(msgspec.Struct, frozen=True):
    """What a group call does: upsert `ref` with `attributes`, relate with `relationship`."""

    ref: ObjectRef
    attributes: dict[str, Any]
    relationship: dict[str, Any]


class Message(msgspec.Struct, frozen=True):
    """One validated message.

    `payload` is the properties (track, page, screen) or traits (identify,
    group); `data_json` is what the activity log stores (see the module doc).
    `semantic` is set for Customer.io's semantic track events (BEHAVIOUR 6.5)
    and `group` for group calls. A frozen msgspec Struct rather than a frozen
    dataclass: a batch makes one per item, and this one is built in C.
    """

    type: str
    user_id: str | None
    anonymous_id: str | None
    message_id: str | None
    timestamp: int
    name: str
    payload: dict[str, Any]
    data_json: str
    group_id: str | None = None
    previous_id: str | None = None
    group: Group | None = None
    semantic: Semantic | None = None

    @property
    def dedup_key(self) -> str:
        """The per-workspace dedup key ("" when the message has no messageId)."""
        return dedup_key(self.message_id)

    @property
    def event_type(self) -> str:
        """`events.type` for track, page and screen messages."""
        return EVENT_TYPES[self.type]

    @property
    def plain(self) -> bool:
        """A track (not a semantic event), page or screen message: it only appends to the log."""
        return self.type in EVENT_TYPES and self.semantic is None

    def as_plain(self) -> Plain:
        """The message as the activity log (and the writer's queue) takes it."""
        return (
            self.type,
            self.user_id,
            self.anonymous_id,
            self.message_id,
            self.timestamp,
            self.name,
            self.data_json,
        )


def parse_message(raw: Any, received_at: int, endpoint: str | None = None) -> Message:
    """Validate one message; `endpoint` (identify, track, ...) overrides its `type`."""
    if not isinstance(raw, dict):
        raise bad_request("a message must be a JSON object")
    kind = endpoint or raw.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise bad_request("type must be one of " + ", ".join(TYPES), "type")
    user_id = ident(raw.get("userId"), "userId")
    anonymous_id = ident(raw.get("anonymousId"), "anonymousId")
    message_id = check_message_id(raw.get("messageId"))
    common = (user_id, anonymous_id, message_id, when(raw, received_at), iso(received_at))
    if kind in EVENT_TYPES:
        return _event(kind, raw, common)
    if kind == "identify":
        return _identify(raw, common)
    if kind == "group":
        return _group(raw, common)
    return _alias(raw, common)


Common = tuple[str | None, str | None, str | None, int, str]  # ids, time, receivedAt


def _event(kind: str, raw: dict[str, Any], common: Common) -> Message:
    user_id, anonymous_id, message_id, moment, received = common
    properties = object_of(raw.get("properties"), "properties")
    name = event_name(kind, raw.get(NAME_KEY[kind]), properties)
    sem = semantic.parse(name, user_id, raw, properties, moment) if kind == "track" else None
    if sem is None:
        need_someone(user_id, anonymous_id)
    data = document(kind, raw, properties, received).decode()
    return Message(
        kind, user_id, anonymous_id, message_id, moment, name, properties, data, semantic=sem
    )


def _identify(raw: dict[str, Any], common: Common) -> Message:
    user_id, anonymous_id, message_id, moment, received = common
    need_someone(user_id, anonymous_id)
    traits = object_of(raw.get("traits"), "traits")
    parse_identify({**traits, "_timestamp": moment}, moment)  # Track's attribute rules
    data = document("identify", raw, {"traits": traits}, received).decode()
    return Message("identify", user_id, anonymous_id, message_id, moment, "", traits, data)


def _group(raw: dict[str, Any], common: Common) -> Message:
    user_id, anonymous_id, message_id, moment, received = common
    group_id = ident(raw.get("groupId"), "groupId")
    if group_id is None:
        raise bad_request("groupId is required", "groupId")
    traits = object_of(raw.get("traits"), "traits")
    type_id = traits.get("object_type_id", "1")
    ref = parse_ref({"object_type_id": type_id, "object_id": group_id}, "traits")
    relationship = object_of(traits.get("relationshipAttributes"), "traits.relationshipAttributes")
    attributes = {
        k: v for k, v in traits.items() if k not in ("object_type_id", "relationshipAttributes")
    }
    check_attributes(attributes)
    check_attributes(relationship)
    data = document("group", raw, {"traits": traits}, received).decode()
    spec = Group(ref, attributes, relationship)
    return Message(
        "group",
        user_id,
        anonymous_id,
        message_id,
        moment,
        group_id,
        traits,
        data,
        group_id,
        group=spec,
    )


def _alias(raw: dict[str, Any], common: Common) -> Message:
    user_id, anonymous_id, message_id, moment, received = common
    previous_id = ident(raw.get("previousId"), "previousId")
    if user_id is None or previous_id is None:
        raise bad_request("alias needs both previousId and userId", "previousId")
    data = document("alias", raw, {}, received).decode()
    return Message(
        "alias", user_id, anonymous_id, message_id, moment, "", {}, data, previous_id=previous_id
    )


def batch_items(body: Any) -> list[Any]:
    """The items of a `/v1/batch` body, with the batch-level defaults applied to each.

    Raises when the request as a whole is invalid: not an object, `batch` not
    an array, or batch-level `context`/`integrations` not objects.
    """
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    items = body.get("batch")
    if not isinstance(items, list):
        raise bad_request("batch must be an array", "batch")
    shared = {key: object_of(body.get(key), key) for key in ("context", "integrations")}
    sent_at = body.get("sentAt")
    for item in items:
        if isinstance(item, dict):
            inherit(item, shared, sent_at)
    return items


def check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ApiError(413, f"{what} cannot be larger than {limit} bytes", code="too_large")


def item_size(item: Any) -> int:
    """A batch item's size as compact JSON (what the 32 KB per message limit measures)."""
    return len(_encode(item))
