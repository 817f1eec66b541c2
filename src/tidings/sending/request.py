"""Parsing `POST /v1/send/{channel}` bodies (BEHAVIOUR.md 5.1): pure, raising `ApiError` 400.

What the official clients send is accepted: ids as numbers or numeric
strings, `headers` as an object, a JSON string of `[{name, value}]` or empty,
`attachments` as `{filename: base64}` (Node 4 always sends `{}`). Fields the
channel does not take are not an error (Customer.io ignores them too), but
`unknown_fields` names them so the caller can be told (a misspelt
`mesage_data` would otherwise vanish); `disable_css_preprocessing` and the
Python client's misspelling of it are known, and have no effect here.

Recipient lists (`to`, `cc`, `bcc`) are only type-checked here: they may be
Liquid (`{{customer.email}}`), so they are split and counted after rendering
(`compose`).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tidings.errors import bad_request
from tidings.numbers import MAX_ID, is_digits
from tidings.people import devices
from tidings.people.identifiers import Identifier, one_of
from tidings.providers import mime
from tidings.providers.base import Attachment

# Route name -> the channel stored on deliveries and templates.
CHANNELS = {
    "email": "email",
    "push": "push",
    "sms": "sms",
    "whatsapp": "whatsapp",
    "inbox_message": "inbox",
    "in_app": "in_app",
}
MAX_SCHEDULE_AHEAD = 90 * 86400
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
MAX_LANGUAGE_CHARS = 16

# Text fields a request may give inline (overriding the template's), per channel.
TEXT_FIELDS = {
    "email": ("from", "reply_to", "subject", "preheader", "body", "body_plain", "body_amp"),
    "push": ("title", "message", "image_url", "link", "sound"),
    "sms": ("from",),
    "whatsapp": ("from",),
    "inbox": (),
    "in_app": (),
}
RECIPIENT_FIELDS = {"email": ("to", "cc", "bcc"), "sms": ("to",), "whatsapp": ("to",)}
_COMMON_FIELDS = (
    "transactional_message_id",
    "identifiers",
    "message_data",
    "send_at",
    "disable_message_retention",
    "send_to_unsubscribed",
    "queue_draft",
    "language",
    "auto_create",
    "tracked",
)
_CHANNEL_FIELDS = {
    "email": (
        "fake_bcc",
        "attachments",
        "headers",
        "disable_css_preprocessing",
        "disable_css_preproceessing",  # customerio-python 1.x
    ),
    "push": ("to", "custom_data", "custom_payload", "custom_device"),
}
# Every field a send on the channel reads.
KNOWN_FIELDS = {
    channel: frozenset(
        (
            *_COMMON_FIELDS,
            *texts,
            *RECIPIENT_FIELDS.get(channel, ()),
            *_CHANNEL_FIELDS.get(channel, ()),
        )
    )
    for channel, texts in TEXT_FIELDS.items()
}


@dataclass(frozen=True)
class PushTarget:
    to: str  # all | last_used | a device token
    custom_device: devices.Device | None = None
    custom_payload: dict[str, Any] | None = None
    custom_data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendRequest:
    channel: str
    identifier: Identifier
    template: int | str | None = None  # numeric id, or trigger name
    message_data: dict[str, Any] = field(default_factory=dict)
    send_at: int | None = None  # None: now
    queue_draft: bool = False
    retain: bool = True  # not disable_message_retention
    send_to_unsubscribed: bool | None = None  # None: the template's default (true)
    tracked: bool | None = None  # None: the template's default (true)
    language: str | None = None
    auto_create: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    recipients: dict[str, str] = field(default_factory=dict)  # to / cc / bcc, unrendered
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    fake_bcc: bool = False
    push: PushTarget | None = None


def parse(route: str, body: dict[str, Any], now: int) -> SendRequest:
    channel = CHANNELS[route]
    template = _template_ref(body.get("transactional_message_id"))
    request = SendRequest(
        channel=channel,
        identifier=_identifier(body.get("identifiers")),
        template=template,
        message_data=_object(body, "message_data") or {},
        send_at=_send_at(body.get("send_at"), now),
        queue_draft=_flag(body, "queue_draft") or False,
        retain=not _flag(body, "disable_message_retention"),
        send_to_unsubscribed=_flag(body, "send_to_unsubscribed"),
        tracked=_flag(body, "tracked"),
        language=_language(body.get("language")),
        auto_create=_flag(body, "auto_create") or False,
        fields=_texts(body, TEXT_FIELDS[channel]),
        recipients=_texts(body, RECIPIENT_FIELDS.get(channel, ())),
        attachments=_attachments(body.get("attachments")) if channel == "email" else (),
        headers=_headers(body.get("headers")) if channel == "email" else {},
        fake_bcc=(_flag(body, "fake_bcc") or False) if channel == "email" else False,
        push=_push(body) if channel == "push" else None,
    )
    _check_required(request)
    return request


def unknown_fields(route: str, body: dict[str, Any]) -> list[str]:
    """The body's top-level fields a send on `route` does not read, sorted."""
    return sorted(set(body) - KNOWN_FIELDS[CHANNELS[route]])


def _check_required(request: SendRequest) -> None:
    if request.channel == "email":
        if not request.recipients.get("to"):
            raise bad_request("to is required", "to")
        inline = all(request.fields.get(k) for k in ("from", "subject", "body"))
        if request.template is None and not inline:
            raise bad_request(
                "transactional_message_id is required, or from, subject and body",
                "transactional_message_id",
            )
    elif request.template is None:
        raise bad_request("transactional_message_id is required", "transactional_message_id")


def _template_ref(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise bad_request(
            "transactional_message_id must be an id or a trigger name", "transactional_message_id"
        )
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise bad_request(
                "transactional_message_id cannot be empty", "transactional_message_id"
            )
        if not is_digits(text):
            return text  # a trigger name
        number = int(text)
    else:
        number = int(value)
    if not 0 < number <= MAX_ID:
        raise bad_request(
            f"transactional message {number} does not exist", "transactional_message_id"
        )
    return number


def _identifier(value: Any) -> Identifier:
    if value is None:
        raise bad_request("identifiers is required", "identifiers")
    return one_of(value)


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise bad_request(f"{name} must be a boolean", name)


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise bad_request(f"{name} must be an object", name)


def _texts(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string", name)
        found[name] = value
    return found


def _send_at(value: Any, now: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request("send_at must be a unix timestamp in seconds", "send_at")
    when = int(value)
    if when <= now:
        return None  # in the past: send now
    if when > now + MAX_SCHEDULE_AHEAD:
        raise bad_request("send_at cannot be more than 90 days in the future", "send_at")
    return when


def _language(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_LANGUAGE_CHARS:
        raise bad_request("language must be a language code such as en or pt-BR", "language")
    return value


def _attachments(value: Any) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise bad_request("attachments must be an object of {filename: base64}", "attachments")
    found, total = [], 0
    for name, content in value.items():
        if not name or not isinstance(content, str):
            raise bad_request("attachments must be an object of {filename: base64}", "attachments")
        try:
            total += len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            raise bad_request(f"attachment {name} is not valid base64", "attachments") from None
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        found.append(Attachment(filename=name, content_type=kind, content_b64=content))
    if total > MAX_ATTACHMENT_BYTES:
        raise bad_request("attachments cannot be larger than 2 MB in total", "attachments")
    return tuple(found)


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise _bad_headers() from None
    pairs = _header_pairs(value)
    try:
        mime.check_headers(pairs)
    except ValueError as exc:
        raise bad_request(str(exc), "headers") from None
    return pairs


def _header_pairs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list) and all(isinstance(i, dict) for i in value):
        items = [(i.get("name"), i.get("value")) for i in value]
    else:
        raise _bad_headers()
    pairs = {}
    for name, header in items:
        if not isinstance(name, str) or isinstance(header, bool) or header is None:
            raise _bad_headers()
        if not isinstance(header, str | int | float):
            raise _bad_headers()
        pairs[name] = str(header)
    return pairs


def _bad_headers() -> Exception:
    return bad_request(
        'headers must be an object or a JSON string of [{"name", "value"}]', "headers"
    )


def _push(body: dict[str, Any]) -> PushTarget:
    to = body.get("to") or "all"
    if not isinstance(to, str):
        raise bad_request("to must be all, last_used or a device token", "to")
    device = body.get("custom_device")
    parsed = devices.parse_device(device, token_key="token") if device is not None else None
    return PushTarget(
        to=to,
        custom_device=parsed,
        custom_payload=_object(body, "custom_payload"),
        custom_data=_custom_data(_object(body, "custom_data") or {}),
    )


def _custom_data(data: dict[str, Any]) -> dict[str, str]:
    """FCM takes string values only: other JSON values are sent as their JSON text."""
    encode = msgspec.json.encode
    return {k: v if isinstance(v, str) else encode(v).decode() for k, v in data.items()}
