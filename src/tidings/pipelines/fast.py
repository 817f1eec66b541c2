"""The common `/v1/batch` request read without making Python objects of each message.

SDKs send batches of plain track, page and screen calls. The general reading
(`api.pipelines.messages`, then `parse.parse_message` per item) decodes each
message into dicts, validates it and encodes the stored document again: about
10 µs a message. This one (about 6.5 µs) decodes the batch twice in C: once
into typed fields, which checks the types of the values it reads (type, ids,
name, times) and leaves objects undecoded, and once into each item's
top-level values as raw JSON (`msgspec.Raw`). The stored `data` is spliced out
of the raw `properties` and an envelope of the other raw values: the document
`parse` describes, in the same key order. Its text keeps the client's spacing
and escapes; it decodes to the same value.

It answers only for a request it can take whole, with the general reading's
result. Anything else is `None`, and the caller reads the request the general
way, which applies every rule and says what is wrong: a body that is not a
batch of objects (a lone surrogate escaped makes it malformed), a NUL escaped
anywhere, batch-level `context` or `integrations` to merge into the items, an
item that is not a plain track, page or screen call (a semantic event,
identify, ...), a value of another JSON type than the SDKs send (numeric ids
or times, say), `originalTimestamp`, a page without a name, an item over a
fifth of the 32 KB limit (whose compact size must be measured), or any value
the general reading would refuse.
"""

from __future__ import annotations

import functools
import re

import msgspec
from msgspec import Raw

from tidings.events.service import MAX_NAME_BYTES
from tidings.people.identifiers import MAX_ID_BYTES
from tidings.pipelines import parse, semantic
from tidings.pipelines.bulk import Plain

_ABSENT = Raw(b"")


class _Fields(msgspec.Struct):
    """What is checked of an item; an absent key reads as null (a wrong type fails)."""

    type: str = ""
    userId: str | None = None  # noqa: N815 (wire names)
    anonymousId: str | None = None  # noqa: N815
    messageId: str | None = None  # noqa: N815
    event: str | None = None
    name: str | None = None
    timestamp: str | None = None
    sentAt: str | None = None  # noqa: N815
    originalTimestamp: Raw = _ABSENT  # noqa: N815
    context: Raw = _ABSENT
    integrations: Raw = _ABSENT
    properties: Raw = _ABSENT


class _Checked(msgspec.Struct):
    batch: list[_Fields]
    context: Raw = _ABSENT
    integrations: Raw = _ABSENT
    sentAt: str | None = None  # noqa: N815


class _Raw(msgspec.Struct):
    batch: list[dict[str, Raw]]
    sentAt: Raw = _ABSENT  # noqa: N815


_decode_checked = msgspec.json.Decoder(_Checked).decode
_decode_raw = msgspec.json.Decoder(_Raw).decode
_encode = msgspec.json.Encoder().encode

# NUL is refused as input by the general reading. A surrogate escape must be
# one of a pair; when there is one the whole body is decoded once to check.
_NUL_ESCAPE = re.compile(rb"\\u0000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NAME_KEY = {"track": "event", "page": "name", "screen": "name"}
_NOT_ENVELOPE = {  # as in parse: the keys stored elsewhere than under `_cdp`
    kind: frozenset({"type", key, "properties", "writeKey"}) for kind, key in _NAME_KEY.items()
}
_NAME_BYTES = {
    "track": MAX_NAME_BYTES,
    "page": parse.MAX_PAGE_NAME_BYTES,
    "screen": parse.MAX_PAGE_NAME_BYTES,
}
_NULL, _EMPTY = b"null", b"{}"
_BRACE = ord("{")
# Compact JSON can be longer than what a client sent (1e15 is 1000000000000000.0),
# but never five times as long, so an item this small is within the 32 KB limit.
_SURELY_SMALL = parse.MESSAGE_LIMIT // 5


class _General(Exception):
    """The request needs the general reading."""


def read_batch(body: bytes, received_at: int) -> list[Plain] | None:
    """The batch's messages as queued plain events, or None (see the module doc)."""
    if len(body) > parse.BATCH_LIMIT or _NUL_ESCAPE.search(body):
        return None
    try:
        if _SURROGATE_ESCAPE.search(body):
            msgspec.json.decode(body)
        checked = _decode_checked(body)
        raw = _decode_raw(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if not (_nothing(checked.context) and _nothing(checked.integrations)):
        return None  # batch-level keys to merge into each item's
    sent_at = raw.sentAt if checked.sentAt is not None else None
    received = _received(received_at)
    try:
        if checked.sentAt is not None:
            _seconds(checked.sentAt)
        return [
            _item(fields, values, sent_at, received, received_at)
            for fields, values in zip(checked.batch, raw.batch, strict=True)
        ]
    except _General:
        return None


def _item(
    fields: _Fields, values: dict[str, Raw], sent_at: Raw | None, received: Raw, received_at: int
) -> Plain:
    kind = fields.type
    if kind not in _NAME_KEY or _size_bound(values, sent_at) > _SURELY_SMALL:
        raise _General
    name = fields.event if kind == "track" else fields.name
    if not name or not name.strip() or len(name.encode()) > _NAME_BYTES[kind]:
        raise _General  # no name (a page's URL stands in), or one refused or cut
    if kind == "track" and name in semantic.NAMES:
        raise _General
    user_id = _id(fields.userId, MAX_ID_BYTES)
    anonymous_id = _id(fields.anonymousId, MAX_ID_BYTES)
    message_id = _id(fields.messageId, parse.MAX_MESSAGE_ID_BYTES)
    if user_id is None and anonymous_id is None:
        raise _General
    if not _absent(fields.originalTimestamp):
        raise _General  # checked there, or the time corrected for the client's clock
    for value in (fields.context, fields.integrations, fields.properties):
        if not _absent(value) and memoryview(value)[0] != _BRACE:
            raise _General
    when = _seconds(fields.timestamp) if fields.timestamp is not None else received_at
    if fields.sentAt is not None:
        _seconds(fields.sentAt)

    envelope = {key: value for key, value in values.items() if key not in _NOT_ENVELOPE[kind]}
    if fields.sentAt is None and sent_at is not None:
        envelope["sentAt"] = sent_at
    envelope["receivedAt"] = received
    data = _document(fields.properties, _encode(envelope))
    return (kind, user_id, anonymous_id, message_id, when, name, data)


def _absent(raw: Raw) -> bool:
    """Absent, or null."""
    return not raw or (len(raw) == 4 and bytes(raw) == _NULL)


def _nothing(raw: Raw) -> bool:
    """A batch-level object with no key to merge: absent, null or empty."""
    return _absent(raw) or (len(raw) == 2 and bytes(raw) == _EMPTY)


def _id(value: str | None, max_bytes: int) -> str | None:
    """An id as the general reading takes it: "" is none; an overlong one is refused there."""
    if not value:
        return None
    if len(value) * 4 > max_bytes and len(value.encode()) > max_bytes:
        raise _General
    return value


def _seconds(value: str) -> int:
    seconds = parse.parse_time(value)
    if seconds is None:
        raise _General
    return seconds


def _size_bound(item: dict[str, Raw], sent_at: Raw | None) -> int:
    """At least the item's size as compact JSON, had its values been sent compact.

    A key's character is at most 6 bytes of JSON (an escape); the batch's
    `sentAt` may be added to the item.
    """
    size = 2 + 6 * sum(map(len, item)) + 4 * len(item) + sum(map(len, item.values()))
    return size + (len(sent_at) + 12 if sent_at is not None else 0)


def _document(properties: Raw, envelope: bytes) -> str:
    """`{...properties, "_cdp": envelope}` as text."""
    inner = b"" if _absent(properties) else bytes(properties)[1:-1].strip()
    parts = (b"{", inner, b',"_cdp":' if inner else b'"_cdp":', envelope, b"}")
    try:
        return b"".join(parts).decode()
    except UnicodeDecodeError as exc:
        raise _General from exc


@functools.lru_cache(maxsize=8)
def _received(seconds: int) -> Raw:
    return Raw(_encode(parse.iso(seconds)))
