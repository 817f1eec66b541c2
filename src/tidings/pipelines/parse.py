"""Segment messages: validation, timestamps and the stored layout (pure, no database).

A message is validated the same way whether it came alone (`POST /v1/track`)
or inside `/v1/batch`; a batch's `context`, `integrations` and `sentAt` apply
to each item (the item's own keys win, one level deep for the two objects).
A problem raises `ApiError` (code `invalid_request`, or `too_large`); the
caller decides whether that refuses the request (strict mode) or records the
message as rejected.

What is stored
--------------
track, page and screen become rows of the activity log (`events.type`
`event`, `page` or `screen`; `events.name` the event name, or the page or
screen name, else the page's `properties.url`) whose `data` is

    {...properties, "_cdp": {...every other key of the message..., "receivedAt": ISO}}

that is, the message minus `type`, its name key (`event`, or `name`) and
`properties`, so it can be rebuilt exactly: `context`, `integrations`,
`messageId`, `userId`, `anonymousId`, `timestamp`, `sentAt`,
`originalTimestamp`, `category` and unknown keys all sit under `_cdp`
(`writeKey`, a credential, is never stored). identify, group and alias are
logged alike as activities of type `identify`, `group` and `alias` with
data `{"traits": {...}, "_cdp": {...}}` (no `traits` for alias). The App
API's `/v1/customers/{id}/activities` shows all of them.

Timestamps
----------
ISO 8601 strings with any offset (none means UTC), or unix seconds, are kept
as whole unix seconds. Without `timestamp`, `originalTimestamp` corrected for
the client's clock skew (`receivedAt - (sentAt - originalTimestamp)`) is
used, else the time received.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import msgspec

from tidings.attributes import check_attributes
from tidings.errors import ApiError, bad_request
from tidings.events.service import MAX_NAME_BYTES
from tidings.objects.store import ObjectRef, parse_ref
from tidings.people.identifiers import MAX_ID_BYTES, check_id
from tidings.people.service import parse_identify
from tidings.pipelines import semantic
from tidings.pipelines.semantic import Semantic
from tidings.timestamps import unix_seconds

TYPES = ("identify", "track", "page", "screen", "group", "alias")
EVENT_TYPES = {"track": "event", "page": "page", "screen": "screen"}
LOG_TYPES = {kind: EVENT_TYPES.get(kind, kind) for kind in TYPES}  # `events.type` per message type
NAME_KEY = {"track": "event", "page": "name", "screen": "name"}  # the key naming an event
MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
MAX_MESSAGE_ID_BYTES = 200  # the dedup key column holds 255, with a prefix
MAX_PAGE_NAME_BYTES = 255  # the events.name column

NOT_ENVELOPE = {  # the keys stored elsewhere than under `_cdp`
    **{kind: frozenset({"type", key, "properties", "writeKey"}) for kind, key in NAME_KEY.items()},
    "identify": frozenset({"type", "traits", "writeKey"}),
    "group": frozenset({"type", "traits", "writeKey"}),
    "alias": frozenset({"type", "writeKey"}),
}
_encode = msgspec.json.Encoder().encode

# A message as the activity log takes it (and the writer queues plain events):
# type, userId, anonymousId, messageId, timestamp, name, data JSON.
Plain = tuple[str, str | None, str | None, str | None, int, str, str]


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


def dedup_key(message_id: str | None) -> str:
    """A messageId's key among the workspace's dedup keys (Track's are `event:` ones);
    "" for none."""
    return f"cdp:{message_id}" if message_id else ""


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


# ------------------------------------------------- rules (the fast reading's too)


def ident(value: Any, field: str) -> str | None:
    """A user, anonymous, group or previous id: a string ("" is none; numbers are stringified)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"{field} must be a string", field)
        value = str(value)
    if len(value) * 4 > MAX_ID_BYTES:  # else surely within it: UTF-8 is at most 4 bytes a character
        check_id(value, field)
    return value


def check_message_id(value: Any) -> str | None:
    """A messageId: a string of at most `MAX_MESSAGE_ID_BYTES` ("" is none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request("messageId must be a string", "messageId")
    if len(value) * 4 > MAX_MESSAGE_ID_BYTES and len(value.encode()) > MAX_MESSAGE_ID_BYTES:
        message = f"messageId cannot be longer than {MAX_MESSAGE_ID_BYTES} bytes"
        raise bad_request(message, "messageId")
    return value


def need_someone(user_id: str | None, anonymous_id: str | None) -> None:
    if user_id is None and anonymous_id is None:
        raise bad_request("userId or anonymousId is required", "userId")


def event_name(kind: str, name: Any, properties: dict[str, Any]) -> str:
    """`events.name` of a track, page or screen message whose `NAME_KEY` holds `name`.

    An event name must be a non-blank string within `MAX_NAME_BYTES`. A page
    or screen name may be missing (then a page's `properties.url` stands in)
    and is cut to the column's size.
    """
    if kind == "track":
        if not isinstance(name, str) or not name.strip():
            raise bad_request("event is required and must be a non-empty string", "event")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise bad_request(f"event cannot be longer than {MAX_NAME_BYTES} bytes", "event")
        return name
    if name is not None and not isinstance(name, str):
        raise bad_request("name must be a string", "name")
    if not name:
        url = properties.get("url")
        name = url if isinstance(url, str) else ""
    encoded = name.encode()
    if len(encoded) > MAX_PAGE_NAME_BYTES:
        name = encoded[:MAX_PAGE_NAME_BYTES].decode(errors="ignore")
    return name


def object_of(value: Any, field: str) -> dict[str, Any]:
    """An object-valued key (`properties`, `traits`, ...): absent or null is empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object", field)
    return value


def when(raw: dict[str, Any], received_at: int) -> int:
    """When the message happened (see "Timestamps" in the module doc).

    Refuses a time that does not parse and, in the order the general reading
    has always checked them, a `context` or `integrations` that is not an object.
    """
    stamp, sent, original = raw.get("timestamp"), raw.get("sentAt"), raw.get("originalTimestamp")
    if stamp is not None:
        stamp = check_time(stamp, "timestamp")
    if sent is not None:
        sent = check_time(sent, "sentAt")
    if original is not None:
        original = check_time(original, "originalTimestamp")
    context, integrations = raw.get("context"), raw.get("integrations")
    if type(context) is not dict:
        object_of(context, "context")
    if type(integrations) is not dict:
        object_of(integrations, "integrations")
    if stamp is not None:
        return stamp
    if original is None:
        return received_at
    corrected = received_at - (sent - original) if sent is not None else original
    if unix_seconds(corrected) is None:
        message = "sentAt and originalTimestamp are too far apart"
        raise bad_request(message, "originalTimestamp")
    return corrected


def check_time(value: Any, field: str) -> int:
    """A time as unix seconds (`parse_time`); refused if it does not parse."""
    seconds = parse_time(value)
    if seconds is None:
        raise bad_request(f"{field} must be an ISO 8601 date-time", field)
    return seconds


def document(
    kind: str, raw: dict[str, Any], head: dict[str, Any], received: str, sent_at: Any = None
) -> bytes:
    """What the activity log stores for a message (see the module doc): `head`
    (properties, or `{"traits": ...}`), then under `_cdp` the message less the
    keys stored elsewhere, in its own key order, with when it was received.

    `sent_at` is a batch's `sentAt` not yet set on the message (`inherit_sent_at`).
    """
    skipped = NOT_ENVELOPE[kind]
    envelope = {key: value for key, value in raw.items() if key not in skipped}
    if sent_at is not None:
        inherit_sent_at(envelope, sent_at)
    envelope["receivedAt"] = received
    return _encode({**head, "_cdp": envelope})


def parse_time(value: Any) -> int | None:
    """ISO 8601 (any offset; none means UTC) or unix seconds, as unix seconds; else None."""
    if not isinstance(value, str):
        return unix_seconds(value)
    return _iso_seconds(value)


@functools.lru_cache(maxsize=256)
def _iso_seconds(value: str) -> int | None:
    """Cached: every item of a batch carries the batch's `sentAt`."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@functools.lru_cache(maxsize=8)
def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------- requests


def check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ApiError(413, f"{what} cannot be larger than {limit} bytes", code="too_large")


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


def inherit(item: dict[str, Any], shared: dict[str, dict[str, Any]], sent_at: Any) -> None:
    """A batch's `context` and `integrations` merged into an item's (its own keys win,
    one level deep), and the batch's `sentAt` if it has none."""
    for key, values in shared.items():
        if not values:
            continue
        own = item.get(key)
        if own is None:
            item[key] = values
        elif isinstance(own, dict):
            item[key] = {**values, **own}
    inherit_sent_at(item, sent_at)


def inherit_sent_at(message: dict[str, Any], sent_at: Any) -> None:
    """The batch's `sentAt` for an item (or its stored envelope) without one: stored,
    measured and correcting the item's time as if the item had carried it."""
    if sent_at is not None and message.get("sentAt") is None:
        message["sentAt"] = sent_at


def item_size(item: Any) -> int:
    """A batch item's size as compact JSON (what the 32 KB per message limit measures)."""
    return len(_encode(item))
