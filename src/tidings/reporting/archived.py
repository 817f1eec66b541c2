"""`GET /v1/messages/{id}/archived_message`: a message as it was sent.

The archive is the delivery's stored payload (the rendered message the
provider was given, `providers.base`), shown in Customer.io's
`archived_message` shape. A message has no archive (404, Customer.io's "not
found" body) while it is not sent yet, when it was sent with
`disable_message_retention` (its payload is emptied after the send), and
once it was sent longer ago than the deployment keeps archives
(`Settings.message_archive_days`; 0 keeps them as long as the delivery).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import deliveries
from tidings.errors import not_found
from tidings.providers import base

DAY = 86400


def archived_message(
    conn: Connection, workspace_id: int, delivery_id: str, keep_days: int, now: int
) -> dict[str, Any]:
    """`{"archived_message": {id, body, from, reply_to, recipient, subject, ...}}`."""
    row = conn.execute(
        select(
            deliveries.c.recipient,
            deliveries.c.payload,
            deliveries.c.options,
            deliveries.c.sent_at,
        ).where(deliveries.c.workspace_id == workspace_id, deliveries.c.id == delivery_id)
    ).first()
    if row is None or row.payload is None or row.sent_at is None:
        raise not_found("message not found")
    if keep_days and row.sent_at < now - keep_days * DAY:
        raise not_found("message not found")
    options = msgspec.json.decode(row.options) if row.options else {}
    shown = _shown(base.decode(row.payload), bool(options.get("fake_bcc")))
    return {"archived_message": {"id": delivery_id, "recipient": row.recipient, **shown}}


def _shown(message: base.Outbound, fake_bcc: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "body": "",
        "from": None,
        "reply_to": None,
        "subject": None,
        "bcc": None,
        "fake_bcc": fake_bcc,
        "preheader_text": None,
        "url": None,
        "request_method": None,
        "headers": [],
        "forgotten": False,
    }
    if isinstance(message, base.Email):
        fields.update(
            body=message.html if message.html is not None else message.text or "",
            body_plain=message.text,
            subject=message.subject,
            reply_to=message.reply_to,
            preheader_text=message.preheader,
            bcc=", ".join(message.bcc) or None,
            headers=[{name: value} for name, value in message.headers.items()],
            **{"from": message.from_},
        )
    elif isinstance(message, base.Sms):
        fields.update(body=message.body, **{"from": message.from_})
    elif isinstance(message, base.Push):
        fields.update(body=message.message or "", subject=message.title)
    elif isinstance(message, base.Webhook):
        fields.update(
            body=message.body,
            url=message.url,
            request_method=message.method.upper(),
            headers=[{name: value} for name, value in message.headers.items()],
        )
    else:
        fields.update(body=msgspec.json.encode(message.payload).decode())
    return fields
