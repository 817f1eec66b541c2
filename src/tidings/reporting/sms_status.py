"""Twilio's status callbacks: an SMS's or WhatsApp message's fate, as its metrics.

Every message the Twilio adapter sends names `callback_url` as its
`StatusCallback` (unless the provider config names a receiver of its own).
Twilio posts form-encoded `MessageSid`, `MessageStatus`, `ErrorCode`, `To`...
there as the message moves on, each post signed with the account's auth token
(`X-Twilio-Signature`, `providers.twilio.signature`). The signature is checked
against the auth token of the Twilio provider the delivery's workspace has
for its channel now; a post that does not verify is a 403, and so is one for
a delivery whose channel is not sent through Twilio. An unknown delivery is
a 404: with no workspace there is no auth token to check the post against,
and an unauthenticated post must not write metrics.

Statuses become metrics as Customer.io reports SMS (`sms_*` reporting
events): `delivered` is `delivered`. `undelivered` (the carrier could not
deliver it) and `failed` (Twilio could not send it) are `bounced` when
Twilio's `ErrorCode` says the number itself cannot take messages
(`NUMBER_REFUSED`), and a bounce blocks the number (`blocked_addresses`, as
an email's hard bounce does); any other code (a full queue, a handset off or
out of coverage, carrier filtering of the content, an unknown error) is
`failed`, which blocks nothing: the next message may get through. Both carry
`failure_message` from the `ErrorCode`. `accepted`, `queued`,
`sending`, `sent` and the rest add nothing to the `sent` recorded when Twilio
took the message. Recorded through `metrics.record_metric`, so reporting
webhooks, totals and day counts follow; a status already recorded for the
delivery is not recorded again (Twilio may post the same status twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import deliveries, providers
from tidings.errors import ApiError
from tidings.providers import twilio
from tidings.reporting import metrics

PATH = "/webhooks/twilio/"
FINAL_FAILURES = frozenset({"undelivered", "failed"})
# Twilio's error codes (its error dictionary, https://www.twilio.com/docs/api/errors)
# that name the number, not the message or the moment: 21211 invalid 'To' number,
# 21610 the recipient opted out (STOP; Twilio fails every later message until they
# opt in again), 21614 'To' is not a mobile number, 30004 message blocked (the number
# is blocked from receiving, or opted out), 30005 unknown destination handset (no
# longer in service), 30006 landline or unreachable carrier. Not among them: 30003
# (handset off or out of coverage, "temporarily unreachable"), 30001 (queue
# overflow), 30007 (message filtered for its content), 30008 (unknown error).
NUMBER_REFUSED = frozenset({"21211", "21610", "21614", "30004", "30005", "30006"})


def callback_url(base_url: str, delivery_id: str) -> str:
    """Where Twilio posts a delivery's status changes, on this server's public URL."""
    return f"{base_url.rstrip('/')}{PATH}{quote(delivery_id, safe='')}"


def record_status(
    conn: Connection,
    delivery_id: str,
    url: str,
    params: Sequence[tuple[str, str]],
    signature: str,
    now: int,
) -> str | None:
    """Record what a verified status post says; the metric recorded, if any.

    `url` is the full URL Twilio posted to, `params` its form fields as posted.
    """
    row = conn.execute(
        select(deliveries.c.workspace_id, deliveries.c.channel).where(
            deliveries.c.id == delivery_id
        )
    ).first()
    if row is None:
        raise ApiError(404, "unknown delivery", code="not_found")
    token = _auth_token(conn, row.workspace_id, row.channel)
    if token is None or not twilio.signed_by(token, url, params, signature):
        raise ApiError(403, "the X-Twilio-Signature does not match", code="forbidden")
    fields = dict(params)
    metric = status_metric(fields.get("MessageStatus", ""), fields.get("ErrorCode", ""))
    if metric is None or metrics.reached(conn, row.workspace_id, delivery_id, metric):
        return None
    extra = {"provider_message_id": fields["MessageSid"]} if fields.get("MessageSid") else {}
    if metric != "delivered":
        extra["reason"] = f"twilio error {fields.get('ErrorCode') or 'unknown'}"
    metrics.record_metric(conn, row.workspace_id, delivery_id, metric, now, extra, now=now)
    return metric


def status_metric(status: str, error_code: str) -> str | None:
    """The metric a Twilio status (and its `ErrorCode`) records; None for a status
    that adds nothing."""
    if status == "delivered":
        return "delivered"
    if status in FINAL_FAILURES:
        return "bounced" if error_code.strip() in NUMBER_REFUSED else "failed"
    return None


def _auth_token(conn: Connection, workspace_id: int, channel: str) -> str | None:
    """The auth token of the workspace's Twilio provider for `channel`; None without one."""
    found = conn.execute(
        select(providers.c.kind, providers.c.config).where(
            providers.c.workspace_id == workspace_id, providers.c.channel == channel
        )
    ).first()
    if found is None or found.kind != "twilio":
        return None
    token = msgspec.json.decode(found.config).get("auth_token")
    return token if isinstance(token, str) and token else None
