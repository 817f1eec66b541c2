"""The rules of a Pipelines message, one function (or table) each; pure, no database.

The general reading (`pipelines.parse`, every message type) and the fast
one (`pipelines.fast`, batches of plain events) both call these, so each
rule is written once: which ids, names and times are taken and how, the
limits, the time a message happened, the stored document, the dedup key.
A problem raises `ApiError` (code `invalid_request`); the size limits of a
message and a request are `pipelines.parse`'s.

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

from tidings.errors import ApiError, bad_request
from tidings.events.service import MAX_NAME_BYTES
from tidings.people.identifiers import MAX_ID_BYTES, check_id
from tidings.timestamps import unix_seconds

TYPES = ("identify", "track", "page", "screen", "group", "alias")
EVENT_TYPES = {"track": "event", "page": "page", "screen": "screen"}
LOG_TYPES = {kind: EVENT_TYPES.get(kind, kind) for kind in TYPES}  # `events.type` per message type
NAME_KEY = {"track": "event", "page": "name", "screen": "name"}  # the key naming an event
MAX_MESSAGE_ID_BYTES = 200  # the dedup key column holds 255, with a prefix
MAX_PAGE_NAME_BYTES = 255  # the events.name column

NOT_ENVELOPE = {  # the keys stored elsewhere than under `_cdp`
    **{kind: ("type", key, "properties", "writeKey") for kind, key in NAME_KEY.items()},
    "identify": ("type", "traits", "writeKey"),
    "group": ("type", "traits", "writeKey"),
    "alias": ("type", "writeKey"),
}
_encode = msgspec.json.Encoder().encode

# A message as the activity log takes it (and the writer queues plain events):
# type, userId, anonymousId, messageId, timestamp, name, data JSON.
Plain = tuple[str, str | None, str | None, str | None, int, str, str]


def dedup_key(message_id: str | None) -> str:
    """A messageId's key among the workspace's dedup keys (Track's are `event:` ones);
    "" for none."""
    return f"cdp:{message_id}" if message_id else ""


def ident(value: Any, field: str, *, numbers: bool = True) -> str | None:
    """A user, anonymous, group or previous id: a string ("" is none).

    Numbers are stringified; with `numbers` False they are refused instead
    (the fast reading leaves them to the general one).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or not isinstance(value, int | float) or not numbers:
        raise bad_request(f"{field} must be a string", field)
    else:
        text = str(value)
    if len(text) * 4 > MAX_ID_BYTES:  # else surely within it: UTF-8 is at most 4 bytes a character
        check_id(text, field)
    return text


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
    text: str = name or ""
    if not text:
        url = properties.get("url")
        text = url if isinstance(url, str) else ""
    encoded = text.encode()
    if len(encoded) > MAX_PAGE_NAME_BYTES:
        text = encoded[:MAX_PAGE_NAME_BYTES].decode(errors="ignore")
    return text


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
    """ISO 8601 (any offset; none means UTC) or unix seconds, as unix seconds; refused
    if it is neither."""
    seconds = _iso_seconds(value) if isinstance(value, str) else unix_seconds(value)
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
    envelope = raw.copy()  # a copy less a few keys: about three times a comprehension's speed
    for key in NOT_ENVELOPE[kind]:
        envelope.pop(key, None)
    if sent_at is not None:
        inherit_sent_at(envelope, sent_at)
    envelope["receivedAt"] = received
    return _encode({**head, "_cdp": envelope})


def parse_time(value: Any) -> int | None:
    """ISO 8601 (any offset; none means UTC) or unix seconds, as unix seconds; else None."""
    try:
        return check_time(value, "time")
    except ApiError:
        return None


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


# ----------------------------------------------------------------- batches


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
