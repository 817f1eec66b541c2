"""The common `/v1/batch` request read with fewer steps than the general reading.

SDKs send batches of plain track, page and screen calls. The general reading
(`api.pipelines.messages`, then `parse.parse_message` per item) is written
for every message type and every rule: about 10 µs a message. This one takes
only plain events whose values have the types the SDKs send, checks them in a
few lines, and stores the same document as the general reading, encoded from
the same decoded values (so numbers, escapes and repeated keys come out as
they do there): about 5 µs.

It answers only for a request it can take whole, with the general reading's
result. Anything else is left to the general reading, which applies every
rule and says what is wrong (it is handed the decoded body, when there is
one, so that nothing is decoded twice): a body that does not decode
(malformed JSON, invalid UTF-8, a lone surrogate escaped, a number out of
range) or is not a batch of objects, a NUL escaped anywhere, batch-level
`context` or `integrations` to merge into the items, an item that is not a
plain track, page or screen call (a semantic event, identify, ...), a value
of another JSON type than the SDKs send (numeric ids or times, say),
`originalTimestamp`, a page without a name, an item whose size against the
32 KB limit is not plainly within it, or any value the general reading would
refuse.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from tidings.events.service import MAX_NAME_BYTES
from tidings.people.identifiers import MAX_ID_BYTES
from tidings.pipelines import parse, semantic
from tidings.pipelines.bulk import Plain

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

_NAME_KEY = {"track": "event", "page": "name", "screen": "name"}
_NAME_BYTES = {
    "track": MAX_NAME_BYTES,
    "page": parse.MAX_PAGE_NAME_BYTES,
    "screen": parse.MAX_PAGE_NAME_BYTES,
}
# The stored document holds every key of an item but its type, its name and
# `writeKey` (a name is at most 255 bytes, 1,530 escaped): an item whose
# document is under half the 32 KB limit is surely within it.
_SURELY_SMALL = parse.MESSAGE_LIMIT // 2


class _General(Exception):
    """The request needs the general reading."""


class Read(NamedTuple):
    plain: list[Plain] | None  # the batch as queued plain events, if the fast reading took it
    body: Any = None  # else the decoded body, when it decoded: the general reading's input


def read_batch(body: bytes, received_at: int) -> Read:
    """The batch's messages as queued plain events, or why not (see the module doc)."""
    if len(body) > parse.BATCH_LIMIT or b"\\u0000" in body:  # NUL: refused as input there
        return Read(None)
    try:
        decoded = _decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return Read(None)
    if type(decoded) is not dict or type(items := decoded.get("batch")) is not list:
        return Read(None, decoded)
    if not (_nothing(decoded.get("context")) and _nothing(decoded.get("integrations"))):
        return Read(None, decoded)  # batch-level keys to merge into each item's
    sent_at = decoded.get("sentAt")
    measure = len(body) > parse.MESSAGE_LIMIT
    try:
        if sent_at is not None:
            _seconds(sent_at)
        received = parse.iso(received_at)
        return Read([_item(item, sent_at, received, received_at, measure) for item in items])
    except _General:
        return Read(None, decoded)


def _item(item: Any, sent_at: Any, received: str, received_at: int, measure: bool) -> Plain:
    if type(item) is not dict:
        raise _General
    kind = item.get("type")
    if type(kind) is not str or kind not in _NAME_KEY or "writeKey" in item:
        raise _General
    name = item.get(_NAME_KEY[kind])
    if type(name) is not str or not name.strip() or len(name.encode()) > _NAME_BYTES[kind]:
        raise _General  # no name (a page's URL stands in), or one refused or cut
    if kind == "track" and name in semantic.NAMES:
        raise _General
    user_id = _id(item.get("userId"), MAX_ID_BYTES)
    anonymous_id = _id(item.get("anonymousId"), MAX_ID_BYTES)
    message_id = _id(item.get("messageId"), parse.MAX_MESSAGE_ID_BYTES)
    if user_id is None and anonymous_id is None:
        raise _General
    if item.get("originalTimestamp") is not None:
        raise _General  # checked there, or the time corrected for the client's clock
    properties = item.get("properties")
    for value in (item.get("context"), item.get("integrations"), properties):
        if value is not None and type(value) is not dict:
            raise _General
    timestamp = item.get("timestamp")
    when = _seconds(timestamp) if timestamp is not None else received_at
    own_sent_at = item.get("sentAt")
    if own_sent_at is not None:
        _seconds(own_sent_at)

    skipped = parse.NOT_ENVELOPE[kind]
    envelope = {key: value for key, value in item.items() if key not in skipped}
    if own_sent_at is None and sent_at is not None:
        envelope["sentAt"] = sent_at
    envelope["receivedAt"] = received
    data = _encode({**(properties or {}), "_cdp": envelope})
    if measure and len(data) > _SURELY_SMALL:
        raise _General
    return (kind, user_id, anonymous_id, message_id, when, name, data.decode())


def _nothing(value: Any) -> bool:
    """A batch-level object with no key to merge: absent, null or empty."""
    return value is None or (type(value) is dict and not value)


def _id(value: Any, max_bytes: int) -> str | None:
    """An id as the general reading takes it: "" is none; a number or an overlong one is general."""
    if value is None or value == "":
        return None
    if type(value) is not str or (len(value) * 4 > max_bytes and len(value.encode()) > max_bytes):
        raise _General
    return value


def _seconds(value: Any) -> int:
    seconds = parse.parse_time(value) if type(value) is str else None
    if seconds is None:
        raise _General
    return seconds
