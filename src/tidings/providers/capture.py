"""The capture adapter: stores what would have been sent, in `captured_messages`.

The default for every channel of every workspace until an operator configures
a provider, and the adapter of in-app and inbox messages. An email is stored
with its MIME text (`tidings.providers.mime.build`), so what is captured is
byte for byte what SMTP would have sent. `tidings outbox` and `GET /v1/outbox`
read the table back.

Like a real provider it answers once the message is stored (its own committed
transaction): a worker that dies before recording the outcome captures the
message again on the next attempt, as a provider would receive it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, insert

from tidings.db.schema import captured_messages
from tidings.providers import mime
from tidings.providers.base import (
    Email,
    InApp,
    Outbound,
    Outcome,
    Permanent,
    Push,
    Sent,
    Sms,
    Webhook,
)

Write = Callable[..., Any]


class CaptureAdapter:
    def __init__(self, workspace_id: int, channel: str, write: Write, clock: Any) -> None:
        self._workspace_id = workspace_id
        self._channel = channel
        self._write = write  # blocking: runs fn(conn, *args) in a committed transaction
        self._clock = clock

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        try:
            row = _row(self._workspace_id, self._channel, delivery_id, message)
        except ValueError as exc:  # a message MIME cannot express: retrying cannot help
            return Permanent(f"the message cannot be built: {exc}")
        row["created_at"] = int(self._clock.now())
        captured_id = await asyncio.to_thread(self._write, _store, row)
        return Sent(provider_message_id=f"capture-{captured_id}")

    async def close(self) -> None:
        return None


def _row(workspace_id: int, channel: str, delivery_id: str, message: Outbound) -> dict[str, Any]:
    document = msgspec.to_builtins(message)
    subject = None
    if isinstance(message, Email):
        document["mime"] = mime.build(delivery_id, message).decode("utf-8", "replace")
        subject = message.subject
    return {
        "workspace_id": workspace_id,
        "delivery_id": delivery_id,
        "channel": channel,
        "recipient": _recipient(message)[:255],
        "subject": subject,
        "message": msgspec.json.encode(document).decode(),
    }


def _recipient(message: Outbound) -> str:
    if isinstance(message, Email):
        return ", ".join(message.to)
    if isinstance(message, Sms):
        return message.to
    if isinstance(message, Push):
        return message.token
    if isinstance(message, Webhook):
        return message.url
    assert isinstance(message, InApp)
    return ""


def _store(conn: Connection, row: dict[str, Any]) -> int:
    result = conn.execute(insert(captured_messages).values(**row))
    return int(result.inserted_primary_key[0])
