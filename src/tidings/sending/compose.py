"""Turning rendered fields into the outbound message a delivery stores (pure).

Every function takes fields already rendered through Liquid and raises
`ApiError` 400 for what the send cannot do without (no sender, no
recipient, too many recipients). The email's Message-ID is fixed here,
`<delivery_id@sender's domain>`, so every attempt at the delivery carries it.
"""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import Any

import msgspec

from tidings.errors import bad_request
from tidings.providers import addresses
from tidings.providers.base import Attachment, Email, InApp, Push, Sms
from tidings.sending.request import PushTarget, SendRequest

MAX_RECIPIENTS = 15


_LINE_BREAKS = re.compile(r"[\r\n]+")


def _one_line(value: str, field: str) -> str:
    """A header value as given; a line break in it is a 400 (it would start a new header)."""
    if "\r" in value or "\n" in value:
        raise bad_request(f"{field} cannot contain a line break", field)
    return value


def _checked_attachment(attachment: Attachment) -> Attachment:
    _one_line(attachment.filename, "attachments")
    return attachment


def recipient_list(rendered: dict[str, str | None], name: str) -> list[str]:
    """A comma-separated recipient field as a list of `Name <address>` / `address`."""
    text = _one_line(rendered.get(name) or "", name)
    found = []
    for display, address in addresses.parse_list([text]):
        if not address and not display:
            continue
        if "@" not in address or " " in address.strip():
            raise _invalid_address(name, text, address)
        found.append(formataddr((display, address.strip())) if display else address.strip())
    return found


def _invalid_address(name: str, text: str, address: str) -> Exception:
    """A 400 quoting the whole field as given and saying what is wrong with it."""
    why = "an address needs an @" if "@" not in address else "an address cannot contain spaces"
    shown = text if len(text) <= 200 else text[:200] + "..."
    return bad_request(
        f'{name} holds an invalid email address: "{shown}"'
        f' ({why}; write name@example.com or "Name <name@example.com>")',
        name,
    )


def email(
    delivery_id: str,
    request: SendRequest,
    rendered: dict[str, str | None],
    html: str | None,
    unsubscribe_url: str | None,
) -> Email:
    to, cc, bcc = (recipient_list(rendered, n) for n in ("to", "cc", "bcc"))
    # With fake_bcc the bcc addresses stay on the payload; the worker sends them
    # a copy instead of a real Bcc (`fake_bcc_copy`).
    if not to:
        raise bad_request("to is required", "to")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise bad_request(f"at most {MAX_RECIPIENTS} recipients across to, cc and bcc", "to")
    sender = _one_line(rendered.get("from") or "", "from").strip()
    address = addresses.parse(sender)[1]
    if "@" not in address:
        raise bad_request("from is required: a sender address (the template has none)", "from")
    domain = address.rpartition("@")[2].strip().lower() or "tidings.invalid"
    return Email(
        message_id=f"<{delivery_id}@{domain}>",
        from_=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=_one_line(rendered.get("reply_to") or "", "reply_to") or None,
        # A rendered attribute may hold a line break: in a header it would start
        # a new header (injection), so the subject keeps it as a space.
        subject=_LINE_BREAKS.sub(" ", rendered.get("subject") or ""),
        preheader=rendered.get("preheader") or None,
        html=html,
        text=rendered.get("body_plain") or None,
        amp=rendered.get("body_amp") or None,
        headers={
            _one_line(k, "headers"): _one_line(v, "headers") for k, v in request.headers.items()
        },
        attachments=[_checked_attachment(a) for a in request.attachments],
        unsubscribe_url=unsubscribe_url,
    )


def fake_bcc_copy(message: Email) -> Email:
    """`fake_bcc`: instead of a real Bcc, the bcc addresses get a copy whose subject names
    the recipients (its own Message-ID, also fixed per delivery)."""
    left, _, right = message.message_id.strip("<>").partition("@")
    return msgspec.structs.replace(
        message,
        message_id=f"<{left}.bcc@{right}>",
        to=message.bcc,
        cc=[],
        bcc=[],
        subject=f"{message.subject} (sent to {', '.join(message.to + message.cc)})",
    )


def sms(
    request: SendRequest,
    rendered: dict[str, str | None],
    phone: str | None,
    status_url: str | None = None,
) -> Sms:
    to = (rendered.get("to") or phone or "").strip()
    if not to:
        raise bad_request("to is required: a phone number (the person has no phone)", "to")
    return Sms(
        to=to,
        from_=rendered.get("from") or None,
        body=rendered.get("body") or "",
        whatsapp=request.channel == "whatsapp",
        status_url=status_url,
    )


def push(
    target: PushTarget, rendered: dict[str, str | None], device: tuple[str, str] | None
) -> Push:
    token, platform = device or ("", "")
    payload = target.custom_payload
    if payload is not None and platform:
        payload = _platform_payload(payload, platform)
    return Push(
        token=token,
        platform=platform,
        title=rendered.get("title") or None,
        message=rendered.get("message") or None,
        link=rendered.get("link") or None,
        image_url=rendered.get("image_url") or None,
        sound=rendered.get("sound") or None,
        custom_data=target.custom_data,
        custom_payload=payload,
    )


def for_device(
    message: Push, token: str, platform: str, custom_payload: dict[str, Any] | None
) -> Push:
    """The same push for another of the person's devices (a send `to` all)."""
    payload = _platform_payload(custom_payload, platform) if custom_payload else None
    return msgspec.structs.replace(message, token=token, platform=platform, custom_payload=payload)


def _platform_payload(payload: dict[str, Any], platform: str) -> dict[str, Any] | None:
    """Customer.io's `custom_payload` is `{"ios": {...}, "android": {...}}`."""
    part = payload.get(platform)
    return part if isinstance(part, dict) else None


def in_app(request: SendRequest, rendered: dict[str, str | None]) -> InApp:
    content = {k: v for k, v in rendered.items() if v is not None}
    return InApp(
        inbox=request.channel == "inbox", payload={**content, "data": request.message_data}
    )
