"""Transactional message definitions as the App API and `tidings apply` give them (pure).

A content in a language other than the default inherits the default's `from`
and `layout` unless it sets its own (`messages.content_fields`).

Every function raises `ApiError` 400 naming the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings import numbers
from tidings.errors import bad_request
from tidings.templates import checks

CHANNELS = ("email", "push", "sms", "whatsapp", "inbox", "in_app")
# The fields a content may hold, per channel (all strings; Liquid when rendered).
FIELDS = {
    "email": (
        "from",
        "reply_to",
        "subject",
        "preheader",
        "body",
        "body_plain",
        "body_amp",
        "layout",
        "bcc",
    ),
    "push": ("title", "message", "link", "image_url", "sound"),
    "sms": ("from", "body"),
    "whatsapp": ("from", "body"),
    "inbox": ("title", "body", "link", "image_url"),
    "in_app": ("title", "body", "link", "image_url"),
}
# An email content (a transactional message's, a campaign, broadcast or newsletter
# action's) may name a Design Studio email whose subject, preheader, HTML and text
# it sends (`templates/design_studio.py`).
DESIGN_STUDIO_FIELD = "design_studio_email_id"
MAX_NAME_CHARS = 255
MAX_LANGUAGE_CHARS = 16
MAX_FIELD_CHARS = 512_000
# Keys of a content as the API shows it, ignored when a content is written back.
_SHOWN_KEYS = frozenset(
    ("id", "language", "type", "name", "message_id", "created_at", "updated_at")
)


@dataclass(frozen=True)
class Definition:
    """A message as created or applied: everything but ids and times."""

    name: str
    trigger_name: str
    channel: str
    description: str = ""
    send_to_unsubscribed: bool = True
    tracked: bool = True
    subscription_topic_id: int | None = None
    contents: tuple[tuple[str, dict[str, str]], ...] = ()  # (language, fields)


# --- parsing (pure) ----------------------------------------------------------


def parse_id(raw: str) -> int:
    return numbers.path_id(raw, "transactional message")


def parse_definition(body: Any) -> Definition:
    """`{name, trigger_name?, channel?, description?, send_to_unsubscribed?, tracked?,
    subscription_topic_id?, contents?: {language: fields} | [{language, ...fields}]}`."""
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    name = _text(body.get("name"), "name", required=True)
    channel = body.get("channel", body.get("type", "email"))
    if channel not in CHANNELS:
        raise bad_request(f"channel must be one of: {', '.join(CHANNELS)}", "channel")
    trigger = _text(body.get("trigger_name") or name, "trigger_name", required=True)
    return Definition(
        name=name,
        trigger_name=trigger.lower(),
        channel=channel,
        description=_text(body.get("description"), "description", limit=10_000),
        send_to_unsubscribed=_flag(body, "send_to_unsubscribed"),
        tracked=_flag(body, "tracked"),
        subscription_topic_id=_topic(body.get("subscription_topic_id")),
        contents=_contents(body.get("contents"), channel),
    )


def _topic(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise bad_request(
            "subscription_topic_id must be a positive whole number", "subscription_topic_id"
        )
    return value


def parse_fields(
    body: Any, channel: str, *, where: str = "body", designed: bool = False
) -> dict[str, str]:
    """A content's fields: strings (or null, meaning unset) named for the channel, each
    valid Liquid (the error names the field and the line). An email content may also
    name a Design Studio email (`DESIGN_STUDIO_FIELD`) when `designed`."""
    if not isinstance(body, dict):
        raise bad_request(f"{where} must be a JSON object")
    allowed = FIELDS[channel]
    if designed and channel == "email":
        allowed = (*allowed, DESIGN_STUDIO_FIELD)
    fields: dict[str, str] = {}
    for key, value in body.items():
        if key in _SHOWN_KEYS:
            continue
        if key not in allowed:
            raise bad_request(f"{key} is not a field of {channel} messages", key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad_request(f"{key} must be a string", key)
        if len(value) > MAX_FIELD_CHARS:
            raise bad_request(f"{key} is longer than {MAX_FIELD_CHARS} characters", key)
        if key not in ("layout", DESIGN_STUDIO_FIELD):
            checks.liquid(value, key if where == "body" else f"{where}.{key}")
        fields[key] = value
    return fields


def parse_language(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > MAX_LANGUAGE_CHARS:
        raise bad_request(f"language must be a code of at most {MAX_LANGUAGE_CHARS} characters")
    return "" if raw.lower() in ("", "default") else raw.lower()


def _contents(raw: Any, channel: str) -> tuple[tuple[str, dict[str, str]], ...]:
    if raw is None:
        return (("", {}),)
    if isinstance(raw, dict):
        items = [
            (
                parse_language(lang),
                parse_fields(f, channel, where=f"contents.{lang}", designed=True),
            )
            for lang, f in raw.items()
        ]
    elif isinstance(raw, list):
        items = [
            (
                parse_language(c.get("language") if isinstance(c, dict) else None),
                parse_fields(c, channel, where=f"contents[{i}]", designed=True),
            )
            for i, c in enumerate(raw)
        ]
    else:
        raise bad_request("contents must be an object of languages or an array", "contents")
    languages = [lang for lang, _ in items]
    if len(set(languages)) != len(languages):
        raise bad_request("contents has a language twice", "contents")
    return tuple(items) if "" in languages else (("", {}), *items)


def _text(value: Any, field: str, *, required: bool = False, limit: int = MAX_NAME_CHARS) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_request(f"{field} must be a non-empty string", field)
    if len(value) > limit:
        raise bad_request(f"{field} is longer than {limit} characters", field)
    return value.strip()


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body.get(field, True)
    if not isinstance(value, bool):
        raise bad_request(f"{field} must be a boolean", field)
    return value
