"""What the delivery worker hands a provider adapter, and what it gets back.

A delivery's `payload` column is one of these messages as JSON (rendered when
the send was accepted, so a template error is the request's 400, never a
failed send later). Adapters turn a message into a provider call and answer
an `Outcome` in our own terms:

- `Sent`: the provider took it (its id for the message, if it gave one);
- `Transient`: try again later (timeouts, 4xx SMTP replies, 429 and 5xx);
- `Permanent`: retrying cannot help (5xx SMTP replies, invalid recipient,
  unregistered device token).

Adapters never raise for a provider's answer; an exception out of `send` is
treated as transient by the worker.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class Attachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    content_b64: str  # base64 of the bytes, as the API received them


class Email(msgspec.Struct, frozen=True, tag="email"):
    message_id: str  # RFC 5322 Message-ID, fixed per delivery ("<...@...>")
    from_: str = msgspec.field(name="from")  # "Name <address>" or an address
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    reply_to: str | None = None
    subject: str = ""
    preheader: str | None = None
    html: str | None = None
    text: str | None = None
    amp: str | None = None
    headers: dict[str, str] = {}
    attachments: list[Attachment] = []
    # One-click unsubscribe (RFC 8058): the URL for List-Unsubscribe, if any.
    unsubscribe_url: str | None = None


class Sms(msgspec.Struct, frozen=True, tag="sms"):
    to: str
    from_: str | None = msgspec.field(default=None, name="from")
    body: str = ""
    whatsapp: bool = False
    # Where the provider reports the message's delivery status (Twilio's
    # `StatusCallback`), made for the delivery when composed; None: nowhere.
    status_url: str | None = None


class Push(msgspec.Struct, frozen=True, tag="push"):
    token: str  # the device token
    platform: str  # ios | android
    title: str | None = None
    message: str | None = None
    link: str | None = None
    image_url: str | None = None
    sound: str | None = None
    custom_data: dict[str, str] = {}
    # Customer.io's custom_payload for this platform, which overrides the rest.
    custom_payload: dict[str, object] | None = None


class InApp(msgspec.Struct, frozen=True, tag="in_app"):
    """In-app and inbox messages: stored for the SDK to fetch; nothing is sent out."""

    inbox: bool = False
    payload: dict[str, object] = {}


class Webhook(msgspec.Struct, frozen=True, tag="webhook"):
    """A campaign's webhook action: an HTTP request to a URL of the user's choosing."""

    url: str
    method: str = "post"
    headers: dict[str, str] = {}
    body: str = ""


Outbound = Email | Sms | Push | InApp | Webhook

encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Outbound)


def decode(payload: str | bytes) -> Outbound:
    outbound: Outbound = _decoder.decode(payload)
    return outbound


class Sent(msgspec.Struct, frozen=True):
    provider_message_id: str | None = None


class Transient(msgspec.Struct, frozen=True):
    reason: str


class Permanent(msgspec.Struct, frozen=True):
    reason: str


Outcome = Sent | Transient | Permanent


class Adapter(Protocol):
    """One provider for one channel of one workspace, built from its `providers.config`.

    `send` is called from the delivery worker's event loop; adapters may keep
    connections open between calls (SMTP sessions, HTTP/2 connections) and
    release them in `close`.
    """

    async def send(self, delivery_id: str, message: Outbound) -> Outcome: ...

    async def close(self) -> None: ...
