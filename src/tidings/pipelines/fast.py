"""The common `/v1/batch` request read with fewer steps than the general reading.

SDKs send batches of plain track, page and screen calls. The general reading
(`api.pipelines.messages`, then `parse.parse_message` per item) is written
for every message type: about 10 µs a message. This one takes only plain
events and applies to them the general reading's own rule functions
(`rules.ident`, `rules.when`, `rules.event_name`, `rules.document`, ...),
skipping what plain events do not need (a `Message`, the semantic event and
batch default steps), so the stored document is the one the general reading
stores, encoded from the same decoded values (numbers, escapes and repeated
keys come out as they do there): about 5 µs.

It answers only for a request it can take whole, with the general reading's
result. Anything else is left to the general reading, which applies every
rule and says what is wrong (it is handed the decoded body, when there is
one, so that nothing is decoded twice): a body that does not decode
(malformed JSON, invalid UTF-8, a lone surrogate escaped, a number out of
range) or is not a batch of objects, a NUL escaped anywhere, batch-level
`context` or `integrations` to merge into the items, an item that is not a
plain track, page or screen call (a semantic event, identify, ...), a
numeric id, `originalTimestamp`, a name that is not a string or is stored
otherwise than given (a page's URL standing in, or cut to fit), `writeKey`
in an item, an item whose size against the 32 KB limit is not plainly
within it, or any value a rule refuses.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from tidings.errors import ApiError
from tidings.pipelines import parse, rules
from tidings.pipelines.rules import (
    NAME_KEY,
    Plain,
    check_message_id,
    document,
    event_name,
    ident,
    need_someone,
    object_of,
    when,
)
from tidings.pipelines.semantic import NAMES as SEMANTIC_NAMES

_decode = msgspec.json.decode

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
            rules.check_time(sent_at, "sentAt")  # once, not for each item that inherits it
        received = rules.iso(received_at)
        return Read([_item(item, sent_at, received, received_at, measure) for item in items])
    except (_General, ApiError):  # ApiError: a rule of the general reading refuses it
        return Read(None, decoded)


def _item(item: Any, sent_at: Any, received: str, received_at: int, measure: bool) -> Plain:
    """One item through the general reading's rules (`pipelines.rules`), or `_General`."""
    if type(item) is not dict:
        raise _General
    kind = item.get("type")
    if type(kind) is not str or kind not in NAME_KEY or "writeKey" in item:
        raise _General
    user_id, anonymous_id = item.get("userId"), item.get("anonymousId")
    if user_id is not None:  # numbers=False: the general reading stringifies a number
        user_id = ident(user_id, "userId", numbers=False)
    if anonymous_id is not None:
        anonymous_id = ident(anonymous_id, "anonymousId", numbers=False)
    message_id = check_message_id(item.get("messageId"))
    if item.get("originalTimestamp") is not None:
        raise _General  # corrected by a sentAt that may be the batch's
    moment = when(item, received_at)
    properties = item.get("properties")
    if type(properties) is not dict:
        properties = object_of(properties, "properties")
    name = item.get(NAME_KEY[kind])
    if type(name) is not str or (kind == "track" and name in SEMANTIC_NAMES):
        raise _General  # no name (a page's URL may stand in), or a semantic event
    if event_name(kind, name, properties) is not name:
        raise _General  # a URL for an empty name, or cut to fit (see _SURELY_SMALL)
    if user_id is None:
        need_someone(user_id, anonymous_id)
    data = document(kind, item, properties, received, sent_at)
    if measure and len(data) > _SURELY_SMALL:
        raise _General
    return (kind, user_id, anonymous_id, message_id, moment, name, data.decode())


def _nothing(value: Any) -> bool:
    """A batch-level object with no key to merge: absent, null or empty."""
    return value is None or (type(value) is dict and not value)
