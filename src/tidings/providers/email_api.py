"""What the HTTP email adapters (SES, SendGrid, Postmark, Mailgun) share.

Each adapter carries the delivery id in its provider's per-message metadata
under `DELIVERY_KEY` (SES EmailTags and the `DELIVERY_HEADER` header, SendGrid
custom_args, Postmark Metadata, Mailgun `v:` variables), so the bounce and
complaint webhooks find the delivery (`reporting/email_webhooks.py`). Each
provider module also reads its webhook's payload into `Event`s.

Answers are classified alike (`classify`): 2xx is `Sent` with the provider's
id for the message; 401 and 403 (our credentials or account: fixing the
config helps, not dropping the message), 408, 429 and 5xx are `Transient`;
any other 4xx (a bad address, a rejected message) is `Permanent`, unless the
provider's error says otherwise (SES's throttling types, Postmark's 405).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, NamedTuple

from tidings.providers import addresses, mime
from tidings.providers.base import Attachment, Email, Outcome, Permanent, Sent, Transient

if TYPE_CHECKING:
    import httpx

DELIVERY_KEY = "tidings_delivery_id"
DELIVERY_HEADER = "X-Tidings-Delivery-Id"
TRANSIENT_STATUSES = frozenset({401, 403, 408, 429})
METRICS = ("bounced", "spammed", "delivered", "dropped")


class Event(NamedTuple):
    """One message's fate as a provider's webhook reports it, in our metric names."""

    delivery_id: str
    metric: str  # one of METRICS
    recipient: str | None = None
    reason: str | None = None
    provider_message_id: str | None = None


def classify(
    provider: str,
    response: httpx.Response,
    detail: str,
    message_id: str | None,
    *,
    transient: bool = False,
) -> Outcome:
    """The outcome of a send answered with `response`; `detail` is the provider's error,
    `transient` says the provider's own error names a failure worth retrying."""
    if response.is_success:
        return Sent(message_id)
    reason = f"{provider} {response.status_code}: {detail}".strip()
    if transient or response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
        return Transient(reason)
    return Permanent(reason)


def headers(email: Email) -> dict[str, str]:
    """The headers to set beyond the structural ones: List-Unsubscribe and the custom ones
    (ValueError for a header `mime.build` would refuse)."""
    mime.check_headers(email.headers)
    found = dict(mime.unsubscribe_headers(email))
    for name, value in email.headers.items():
        found = {k: v for k, v in found.items() if k.lower() != name.lower()}
        found[name] = value
    return found


def attachment_bytes(attachment: Attachment) -> bytes:
    try:
        return base64.b64decode(attachment.content_b64, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"attachment {attachment.filename!r} is not valid base64") from exc


def recipients(values: list[str]) -> list[tuple[str, str]]:
    """(display name, address) of each address given, those without an address left out."""
    return [(name, address) for name, address in addresses.parse_list(values) if address]
